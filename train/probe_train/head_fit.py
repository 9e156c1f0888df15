"""Does a trained head fit the encoder it will sit on? Checked before torch loads anything where possible.

The head's width must be the encoder's hidden size, its layer and length must exist. `load_trained` asks
against the encoder's config.json found the way loading will find it (`encoder_config`, no torch); export
asks again against the loaded encoder (a Hub id not in the local cache is only known then). A mismatch
would otherwise surface as a shape error deep inside torch, after the encoder loaded.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ProbeError

__all__ = ["CONFIG", "HEAD", "check_head_fits_encoder", "damaged", "encoder_config"]

CONFIG, HEAD = "config.json", "head.npz"  # the model directory's config and head (`model_dir`)


def damaged(path: Path, what: str) -> ProbeError:
    return ProbeError(f"{path}: {what}. The model directory is damaged; train it again with `probe train`.")


def read_arrays(path: Path, names: tuple[str, ...], holds: str) -> tuple[np.ndarray, ...]:
    """The arrays ``names`` of one of the directory's .npz files (``holds``: what it is for, said when it is
    missing), without pickles; a missing or unreadable file is one `damaged` line."""
    if not path.is_file():
        raise damaged(path, f"missing ({holds})")
    try:
        with np.load(path, allow_pickle=False) as saved:
            return tuple(saved[name] for name in names)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise damaged(path, f"cannot be read ({exc})") from None


def encoder_config(encoder: str) -> dict[str, Any] | None:
    """The config.json of the encoder ``encoder`` names, found the way loading it will find it, without torch.

    A local folder, the default alias (``minilm``: a folder inside an installed package) or a Hub id already
    in the local Hugging Face cache; None when there is none on this machine (a Hub id not downloaded yet:
    `check_head_fits_encoder` runs again on the loaded encoder's config).
    """
    from .encoder import resolve_model

    try:
        path = Path(resolve_model(encoder))
    except ProbeError:
        return None  # the default's package is missing: loading it says so
    found: str | Path | None = path / CONFIG
    if not path.is_dir():
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(str(path), CONFIG)
        except (ImportError, ValueError):  # ValueError: not a valid Hub id
            found = None
    if not isinstance(found, str | Path):
        return None
    try:
        config = json.loads(Path(found).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def check_head_fits_encoder(
    model_dir: Path, config: dict[str, Any], width: int, encoder_config: dict[str, Any], positions: int | None = None
) -> None:
    """The head must fit the encoder it sits on: its width is the hidden size, its layer and length must exist.

    ``config``: the model directory's settings (``encoder``, ``layer``, ``max_length``); ``width``: the
    head's input width; ``positions``: the tokens the encoder can read, when known better than
    ``max_position_embeddings`` (RoBERTa-style tables lose rows to their padding index). A mismatch
    would otherwise surface as a shape error deep inside torch, after the encoder loaded.
    """
    encoder = config["encoder"]
    hidden = encoder_config.get("hidden_size")
    if isinstance(hidden, int) and width != hidden:
        raise damaged(model_dir / HEAD, f"the head is {width} wide but encoder {encoder} has hidden size {hidden}")
    if positions is None:
        positions = encoder_config.get("max_position_embeddings")
    if isinstance(positions, int) and config["max_length"] > positions:
        raise damaged(
            model_dir / CONFIG,
            f"field 'max_length' is {config['max_length']} but encoder {encoder} has {positions} positions",
        )
    layers = encoder_config.get("num_hidden_layers")
    if isinstance(layers, int) and not -(layers + 1) <= config["layer"] <= layers:
        raise damaged(
            model_dir / CONFIG, f"field 'layer' is {config['layer']} but encoder {encoder} has layers 0..{layers}"
        )
