"""The artifact contract: what a probe `.onnx` file carries besides its graph.

The runtime owns this module; training and export write *through* it so that the file a trainer
produces and the file the runtime reads can never drift apart. Everything lives in the ONNX model's
``metadata_props`` (string key/value pairs), so one file is the whole classifier: no sidecars.

Nothing in the file is believed before it is checked. Schema version 2 adds three SHA-256 hashes
(graph, tokenizer JSON, manifest JSON; see ``probe_runtime.integrity`` for what "graph" covers) that
the loader verifies, and the manifest is validated field by field (type and range) here, where both
the exporter (which must refuse to write an invalid one) and the runtime (which must refuse to read
one) call it. Version 1 files carry no hashes: they are refused with the fix (re-export).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from .errors import ArtifactError
from .integrity import text_sha256

__all__ = [
    "BATCH_DEPENDENT_QUANTIZATIONS",
    "EMBEDDINGS_NAME",
    "INPUT_NAMES",
    "KEY_GRAPH_SHA256",
    "KEY_MANIFEST",
    "KEY_MANIFEST_SHA256",
    "KEY_SCHEMA",
    "KEY_TOKENIZER",
    "KEY_TOKENIZER_SHA256",
    "MAX_LENGTH_LIMIT",
    "METHODS",
    "OUTPUT_NAME",
    "QUANTIZATIONS",
    "SCHEMA_VERSION",
    "LongTextPolicy",
    "Manifest",
    "Pooling",
    "WindowAggregate",
    "check_hash",
    "manifest_from_metadata",
    "parse_manifest",
]

SCHEMA_VERSION = 2
KEY_SCHEMA = "probe.schema_version"
KEY_MANIFEST = "probe.manifest"
KEY_TOKENIZER = "probe.tokenizer_json"
KEY_GRAPH_SHA256 = "probe.sha256.graph"
KEY_TOKENIZER_SHA256 = "probe.sha256.tokenizer"
KEY_MANIFEST_SHA256 = "probe.sha256.manifest"
# The inputs a graph may declare: the runtime knows how to feed these and nothing else.
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
METHODS = ("probe", "finetune")
QUANTIZATIONS = ("int8", "int8-per-token", "none")
# Activations scaled per batch: a text's answer can depend on the other texts of its call.
BATCH_DEPENDENT_QUANTIZATIONS = ("int8",)
# Far above any encoder's position table (BERT 512, ModernBERT 8192): a bigger value is damage, not a model.
MAX_LENGTH_LIMIT = 1 << 17
_MANIFEST_BYTES_LIMIT = 16_000_000
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
    """Everything the runtime (and a curious human) needs to know about an artifact.

    Every field is validated on construction (``ArtifactError`` naming the field), so an invalid
    manifest can neither be written by the exporter nor read by the runtime.
    """

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
        _validate(self)

    def to_json(self) -> str:
        """The manifest as stored (sorted keys, so the same manifest always hashes the same)."""
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    def to_metadata(self, tokenizer_json: str) -> dict[str, str]:
        """The ``metadata_props`` an exporter writes, except the graph hash (``loader.seal_artifact`` adds it)."""
        manifest_json = self.to_json()
        return {
            KEY_SCHEMA: str(SCHEMA_VERSION),
            KEY_MANIFEST: manifest_json,
            KEY_MANIFEST_SHA256: text_sha256(manifest_json),
            KEY_TOKENIZER: tokenizer_json,
            KEY_TOKENIZER_SHA256: text_sha256(tokenizer_json),
        }


_REQUIRED = ("labels", "max_length", "pooling", "base_encoder", "input_names", "pad_token_id")
# Figures `probe-runtime info` formats as numbers: wrong types there would crash it.
_METRIC_SECTIONS = ("torch", "fp32", "int8", "int8_one_by_one")
_METRICS = ("accuracy", "macro_f1", "flip_rate", "max_abs_diff", "mean_abs_diff", "agreement", "agreement_with_torch")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{text[:60]}{'…' if len(text) > 60 else ''} ({type(value).__name__})"


def _field_error(name: str, expected: str, value: Any) -> ArtifactError:
    return ArtifactError(f"manifest field {name!r} must be {expected}, got {_shown(value)}")


def _json_value_error(value: Any) -> str | None:
    """Why ``value`` is not plain JSON data (None/bool/number/str/list/dict with str keys), if it is not."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if not all(isinstance(k, str) for k in item):
                return "has a non-string key"
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif not (item is None or isinstance(item, (bool, int, float, str))):
            return f"holds a {type(item).__name__}"
    return None


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise _field_error(name, "one of " + ", ".join(repr(c) for c in choices), value)


def _check_section(name: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise _field_error(name, "an object", value)
    problem = _json_value_error(value)
    if problem:
        raise ArtifactError(f"manifest field {name!r} must hold JSON data only, but it {problem}")


def _check_verification(verification: dict[str, Any]) -> None:
    for section in _METRIC_SECTIONS:
        if section not in verification:
            continue
        figures = verification[section]
        if not isinstance(figures, dict):
            raise _field_error(f"verification.{section}", "an object", figures)
        for metric in _METRICS:
            if metric in figures and not _is_number(figures[metric]):
                raise _field_error(f"verification.{section}.{metric}", "a number", figures[metric])
    if "precision" in verification:
        _check_precision(verification["precision"])
    if "texts" in verification and not (_is_int(verification["texts"]) and verification["texts"] >= 0):
        raise _field_error("verification.texts", "a count (an integer of 0 or more)", verification["texts"])


def _check_numbers(name: str, figures: Any, keys: tuple[str, ...]) -> None:
    if not isinstance(figures, dict):
        raise _field_error(name, "an object", figures)
    for key in keys:
        if not _is_number(figures.get(key)):
            raise _field_error(f"{name}.{key}", "a number", figures.get(key))


def _check_precision(precision: Any) -> None:
    """The export's choice of precision, in the shape `probe-runtime info` formats it."""
    name = "verification.precision"
    if not isinstance(precision, dict):
        raise _field_error(name, "an object", precision)
    if not isinstance(precision.get("requested"), str):
        raise _field_error(f"{name}.requested", "a string", precision.get("requested"))
    _check_numbers(f"{name}.gate", precision.get("gate"), ("max_flip_rate", "significance"))
    candidates = precision.get("candidates")
    if not isinstance(candidates, list):
        raise _field_error(f"{name}.candidates", "a list", candidates)
    for i, c in enumerate(candidates):
        where = f"{name}.candidates[{i}]"
        if not isinstance(c, dict) or not isinstance(c.get("name"), str):
            raise _field_error(where, "an object with a name", c)
        for flag in ("passed", "batch_independent"):
            if not isinstance(c.get(flag), bool):
                raise _field_error(f"{where}.{flag}", "true or false", c.get(flag))
        if not isinstance(c.get("reasons"), list) or not all(isinstance(r, str) for r in c["reasons"]):
            raise _field_error(f"{where}.reasons", "a list of strings", c.get("reasons"))
        _check_numbers(f"{where}.agreement", c.get("agreement"), ("texts", "flip_rate", "max_abs_diff"))
        if "paired" in c:
            paired = ("accuracy", "fp32_accuracy", "delta_points", "delta_low", "delta_high", "p_worse")
            _check_numbers(f"{where}.paired", c["paired"], paired)


def _validate(m: Manifest) -> None:
    """Types and ranges of every field; what needs the graph or tokenizer is checked by the loader."""
    if not isinstance(m.labels, list) or not all(isinstance(x, str) or _is_int(x) for x in m.labels):
        raise _field_error("labels", "a list of strings or integers", m.labels)
    if len(m.labels) < 2:
        raise _field_error("labels", "at least two labels", m.labels)
    if len(set(m.labels)) != len(m.labels):
        raise _field_error("labels", "unique labels", m.labels)
    if not (_is_int(m.max_length) and 2 <= m.max_length <= MAX_LENGTH_LIMIT):
        raise _field_error("max_length", f"an integer from 2 to {MAX_LENGTH_LIMIT}", m.max_length)
    _check_choice("pooling", m.pooling, tuple(p.value for p in Pooling))
    if not isinstance(m.base_encoder, str):
        raise _field_error("base_encoder", "a string", m.base_encoder)
    names = m.input_names
    if (
        not isinstance(names, list)
        or not all(isinstance(n, str) and n in INPUT_NAMES for n in names)
        or len(set(names)) != len(names)
        or "input_ids" not in names
    ):
        raise _field_error("input_names", f"a list of distinct names from {list(INPUT_NAMES)} with input_ids", names)
    if not (_is_int(m.pad_token_id) and m.pad_token_id >= 0):
        raise _field_error("pad_token_id", "a token id (an integer of 0 or more)", m.pad_token_id)
    _check_choice("method", m.method, METHODS)
    if not (_is_int(m.layer) and -MAX_LENGTH_LIMIT < m.layer < MAX_LENGTH_LIMIT):
        raise _field_error("layer", "an integer layer index", m.layer)
    _check_choice("quantization", m.quantization, QUANTIZATIONS)
    _check_choice("long_text", m.long_text, tuple(p.value for p in LongTextPolicy))
    _check_choice("window_aggregate", m.window_aggregate, tuple(a.value for a in WindowAggregate))
    if not (_is_int(m.window_stride) and 0 <= m.window_stride < m.max_length):
        expected = f"an integer from 0 to {m.max_length - 1} (below max_length)"
        raise _field_error("window_stride", expected, m.window_stride)
    _check_section("training", m.training)
    _check_section("verification", m.verification)
    _check_verification(m.verification)
    if not isinstance(m.created_by, str):
        raise _field_error("created_by", "a string", m.created_by)


def _hash_mismatch(source: str, what: str, recorded: str, actual: str) -> ArtifactError:
    return ArtifactError(
        f"{source}: its {what} does not match the SHA-256 recorded at export (recorded {recorded[:12]}…, "
        f"file has {actual[:12]}…): the file was modified or corrupted after `probe export`. "
        "Re-download it or re-export the model."
    )


def check_hash(source: str, what: str, recorded: str, actual: str) -> None:
    """Refuse ``what`` (graph, tokenizer, manifest) when its hash is not the recorded one."""
    if not isinstance(recorded, str) or recorded.lower() != actual:
        raise _hash_mismatch(source, what, str(recorded), actual)


def manifest_from_metadata(metadata: dict[str, str], source: str) -> tuple[Manifest, str]:
    """Validate an artifact's metadata and return its manifest and tokenizer JSON.

    Checks, in order: probe schema version, the recorded manifest and tokenizer hashes, then every
    manifest field. ``source`` names the file in error messages. The graph hash needs the file's bytes:
    ``probe_runtime.loader`` checks it.
    """
    if KEY_SCHEMA not in metadata:
        raise ArtifactError(
            f"{source} is an ONNX model but not a probe artifact (no {KEY_SCHEMA!r} metadata). "
            "Build one with `probe export`."
        )
    version = metadata[KEY_SCHEMA]
    if version != str(SCHEMA_VERSION):
        raise ArtifactError(
            f"{source} has artifact schema version {version[:20]!r}, but this probe-runtime reads version "
            f"{SCHEMA_VERSION}. Install the probe-runtime release that matches the exporter, "
            "or re-export the model."
        )
    for key in (KEY_MANIFEST, KEY_MANIFEST_SHA256, KEY_TOKENIZER, KEY_TOKENIZER_SHA256, KEY_GRAPH_SHA256):
        if key not in metadata:
            raise ArtifactError(
                f"{source} lacks the probe metadata entry {key!r} (damaged, or edited by another tool); "
                "re-export the model or re-download it."
            )
    manifest_json, tokenizer_json = metadata[KEY_MANIFEST], metadata[KEY_TOKENIZER]
    check_hash(source, "manifest", metadata[KEY_MANIFEST_SHA256], text_sha256(manifest_json))
    check_hash(source, "tokenizer", metadata[KEY_TOKENIZER_SHA256], text_sha256(tokenizer_json))
    return parse_manifest(manifest_json, source), tokenizer_json


def parse_manifest(manifest_json: str, source: str) -> Manifest:
    """A validated ``Manifest`` from its JSON, or one ``ArtifactError`` naming the field and the fix."""
    fix = "re-export the model with `probe export`"
    if len(manifest_json) > _MANIFEST_BYTES_LIMIT:
        size = len(manifest_json)
        raise ArtifactError(f"{source}: its manifest is {size:,} characters, far beyond any real one; {fix}.")
    try:
        raw = json.loads(manifest_json)
    except (ValueError, RecursionError) as exc:
        raise ArtifactError(f"{source} has a damaged probe manifest ({str(exc)[:120]}); {fix}.") from None
    if not isinstance(raw, dict):
        raise ArtifactError(f"{source} has a damaged probe manifest (not a JSON object); {fix}.")
    missing = [name for name in _REQUIRED if name not in raw]
    if missing:
        raise ArtifactError(f"{source} has a damaged probe manifest (no {missing[0]!r} field); {fix}.")
    known = Manifest.__dataclass_fields__.keys()
    try:
        return Manifest(**{k: v for k, v in raw.items() if k in known})
    except ArtifactError as exc:
        raise ArtifactError(f"{source}: {exc}; {fix}.") from None
