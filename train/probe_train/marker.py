"""How a directory `probe train` wrote is recognised (and so what ``--overwrite`` may replace): its own marker."""

from __future__ import annotations

import json
from pathlib import Path

from .head_fit import CONFIG

__all__ = ["FORMAT", "FORMAT_VERSION", "KIND", "is_trained_model_dir"]

FORMAT = "probe-trained-model"
FORMAT_VERSION = 1
KIND = "probe model directory"  # how refusals name what `probe train` writes


def is_trained_model_dir(path: str | Path) -> bool:
    """Whether ``path`` is a directory ``probe train`` wrote, recognised by its own marker.

    The marker is ``"format": "probe-trained-model"`` in its config.json: the mere presence of a
    config.json proves nothing (every Hugging Face model folder and many projects have one), and
    ``--overwrite`` must never replace those.
    """
    config = Path(path) / CONFIG
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        Path(path).is_dir() and not Path(path).is_symlink() and isinstance(data, dict) and data.get("format") == FORMAT
    )
