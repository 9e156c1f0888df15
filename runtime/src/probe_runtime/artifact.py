"""The artifact contract: what a probe `.onnx` file carries besides its graph.

The runtime owns this module; training and export write *through* it so that the file a trainer
produces and the file the runtime reads can never drift apart. Everything lives in the ONNX model's
``metadata_props`` (string key/value pairs), so one file is the whole classifier: no sidecars.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from .errors import ArtifactError

__all__ = [
    "EMBEDDINGS_NAME",
    "KEY_MANIFEST",
    "KEY_SCHEMA",
    "KEY_TOKENIZER",
    "OUTPUT_NAME",
    "SCHEMA_VERSION",
    "LongTextPolicy",
    "Manifest",
    "Pooling",
    "WindowAggregate",
    "manifest_from_metadata",
]

SCHEMA_VERSION = 1
KEY_SCHEMA = "probe.schema_version"
KEY_MANIFEST = "probe.manifest"
KEY_TOKENIZER = "probe.tokenizer_json"
OUTPUT_NAME = "probabilities"
# The pooled text vector the head reads, exposed so callers can reuse the encoder (and the exporter
# can fit the head on exactly the vectors the quantized graph produces).
EMBEDDINGS_NAME = "embeddings"
Label = str | int


class Pooling(str, Enum):
    """How token vectors become one text vector."""

    MEAN = "mean"
    CLS = "cls"
    MAX = "max"


class LongTextPolicy(str, Enum):
    """What to do with texts longer than the model's maximum length."""

    TRUNCATE = "truncate"
    WINDOW = "window"


class WindowAggregate(str, Enum):
    """How the windows of a long text become one prediction (see `probe_runtime.long_text`)."""

    MAX = "max"
    MEAN = "mean"
    AUTO = "auto"


@dataclass(frozen=True)
class Manifest:
    """Everything the runtime (and a curious human) needs to know about an artifact."""

    labels: list[Label]
    max_length: int
    pooling: str
    base_encoder: str
    input_names: list[str]
    pad_token_id: int
    method: str = "probe"
    layer: int = -1
    quantization: str = "none"
    long_text: str = LongTextPolicy.TRUNCATE.value
    window_stride: int = 0
    window_aggregate: str = WindowAggregate.AUTO.value
    training: dict[str, Any] = field(default_factory=dict)
    verification: dict[str, Any] = field(default_factory=dict)
    created_by: str = ""

    def __post_init__(self) -> None:
        if len(self.labels) < 2:
            raise ArtifactError(f"an artifact needs at least two labels, got {self.labels!r}")
        if len(set(self.labels)) != len(self.labels):
            raise ArtifactError(f"artifact labels must be unique, got {self.labels!r}")
        if self.max_length < 2:
            raise ArtifactError(f"max_length must be at least 2, got {self.max_length}")
        Pooling(self.pooling)
        LongTextPolicy(self.long_text)
        WindowAggregate(self.window_aggregate)

    def to_metadata(self, tokenizer_json: str) -> dict[str, str]:
        """The ``metadata_props`` an exporter writes into the ONNX file."""
        return {
            KEY_SCHEMA: str(SCHEMA_VERSION),
            KEY_MANIFEST: json.dumps(asdict(self), ensure_ascii=False, sort_keys=True),
            KEY_TOKENIZER: tokenizer_json,
        }


def manifest_from_metadata(metadata: dict[str, str], source: str) -> tuple[Manifest, str]:
    """Validate an artifact's metadata and return its manifest and tokenizer JSON.

    ``source`` names the file in error messages.
    """
    if KEY_SCHEMA not in metadata:
        raise ArtifactError(
            f"{source} is an ONNX model but not a probe artifact (no {KEY_SCHEMA!r} metadata). "
            "Build one with `probe export`."
        )
    version = metadata[KEY_SCHEMA]
    if version != str(SCHEMA_VERSION):
        raise ArtifactError(
            f"{source} has artifact schema version {version!r}, but this probe-runtime reads version "
            f"{SCHEMA_VERSION}. Install the probe-runtime release that matches the exporter, "
            "or re-export the model."
        )
    try:
        raw = json.loads(metadata[KEY_MANIFEST])
        tokenizer_json = metadata[KEY_TOKENIZER]
        known = Manifest.__dataclass_fields__.keys()
        manifest = Manifest(**{k: v for k, v in raw.items() if k in known})
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{source} has a damaged probe manifest ({exc}); re-export the model.") from exc
    return manifest, tokenizer_json
