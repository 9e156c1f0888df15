"""The artifact contract: what a probe `.onnx` file carries besides its graph.

The runtime owns this module; training and export write *through* it so that the file a trainer
produces and the file the runtime reads can never drift apart. Everything lives in the ONNX model's
``metadata_props`` (string key/value pairs), so one file is the whole classifier: no sidecars.

Nothing in the file is believed before it is checked. Schema version 2 adds three SHA-256 hashes
(graph, tokenizer JSON, manifest JSON; see ``probe_runtime.integrity`` for what "graph" covers) that
the loader verifies, and the manifest is validated field by field (type and range) here, where both
the exporter (which must refuse to write an invalid one) and the runtime (which must refuse to read
one) call it. Version 1 files carry no hashes: they are refused with the fix (re-export).

The manifest is typed: its closed choices are the enums of ``probe_runtime.choices`` and its training
summary and verification are the records of ``probe_runtime.records``; parsing a manifest's JSON and
checking it are one step, and ``Manifest.to_json`` writes the same keys and values back. This module
re-exports those names, so ``from probe_runtime.artifact import Manifest, Quantization, Verification``
is the one import a reader needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from .choices import DecisionRule, EncoderKind, LongTextPolicy, Method, Pooling, Quantization, Task, WindowAggregate
from .errors import ArtifactError
from .integrity import GraphFacts, text_sha256
from .manifest_fields import (
    INPUT_NAMES,
    MAX_LENGTH_LIMIT,
    Label,
    _encoder_layers,
    _input_names,
    _label_names,
    _labels,
    _layer,
    _max_length,
    _temperature,
    _token_id,
)
from .record_fields import (
    check_fields,
    choice,
    field_error,
    is_int,
    record,
    spec,
    text,
    to_plain,
)
from .records import (
    AgreementRecord,
    Canaries,
    CandidateRecord,
    Decision,
    EncoderRecord,
    Figures,
    GateRecord,
    LabelThresholds,
    OperatingFigures,
    PairedRecord,
    PrecisionRecord,
    Provenance,
    Speed,
    TrainingSummary,
    Verification,
)

__all__ = [
    "CARD_MARKER",
    "EMBEDDINGS_NAME",
    "INPUT_NAMES",
    "KEY_GRAPH_SHA256",
    "KEY_MANIFEST",
    "KEY_MANIFEST_SHA256",
    "KEY_SCHEMA",
    "KEY_TOKENIZER",
    "KEY_TOKENIZER_SHA256",
    "MAX_LENGTH_LIMIT",
    "OUTPUT_NAME",
    "READABLE_SCHEMA_VERSIONS",
    "SCHEMA_VERSION",
    "AgreementRecord",
    "Canaries",
    "CandidateRecord",
    "Decision",
    "EncoderKind",
    "EncoderRecord",
    "Figures",
    "GateRecord",
    "LabelThresholds",
    "LongTextPolicy",
    "Manifest",
    "Method",
    "OperatingFigures",
    "PairedRecord",
    "Pooling",
    "PrecisionRecord",
    "Provenance",
    "Quantization",
    "Speed",
    "Task",
    "TrainingSummary",
    "Verification",
    "WindowAggregate",
    "check_hash",
    "check_schema_version",
    "manifest_from_facts",
    "manifest_from_metadata",
    "parse_manifest",
]

# Version 3 adds the decision (a stored threshold), the temperature and label display names. A runtime
# that reads version 2 only would silently answer argmax for a file tuned to a threshold, so the version
# is bumped; version 2 files still load: they carry none of these fields, and argmax is what they mean.
#
# Version 4 is written only by files that a version-3 runtime would misread or misname: multi-label files (a
# version-3 runtime drops the manifest keys it does not know, so it would argmax a row of independent sigmoid
# probabilities and answer one label, silently) and static int8 tables (it would call the file's precision a
# damaged field). The schema version is the one check every released runtime already makes before anything
# else, so it is what makes an old runtime refuse such a file in one line ("reads versions 2 and 3 ... install
# the probe-runtime release that matches the exporter"); a list of required features would be ignored by the
# runtimes that predate it. Every other file keeps version 3, so older runtimes go on reading it.
SCHEMA_VERSION = 4
READABLE_SCHEMA_VERSIONS = ("2", "3", "4")
KEY_SCHEMA = "probe.schema_version"
KEY_MANIFEST = "probe.manifest"
KEY_TOKENIZER = "probe.tokenizer_json"
KEY_GRAPH_SHA256 = "probe.sha256.graph"
KEY_TOKENIZER_SHA256 = "probe.sha256.tokenizer"
KEY_MANIFEST_SHA256 = "probe.sha256.manifest"
_MANIFEST_BYTES_LIMIT = 16_000_000
OUTPUT_NAME = "probabilities"
# The line after a model card's YAML header (``Manifest.card``): how a card written out is recognised
# as one, so `probe-runtime info --card-out` and `probe report` replace cards and nothing else.
CARD_MARKER = "<!-- probe model card -->"
# The pooled text vector the head reads, exposed so callers can reuse the encoder (and the exporter
# can fit the head on exactly the vectors the quantized graph produces).
EMBEDDINGS_NAME = "embeddings"


@dataclass(frozen=True)
class Manifest:
    """Everything the runtime (and a curious human) needs to know about an artifact.

    Every field is checked on construction (``ArtifactError`` naming the field), so an invalid
    manifest can neither be written by the exporter nor read by the runtime. A closed choice may be
    given as its string (``pooling="mean"``) and a record as its JSON object: both become the typed value.
    """

    labels: list[Label] = field(metadata=spec(_labels))
    max_length: int = field(metadata=spec(_max_length))
    pooling: Pooling = field(metadata=spec(choice(Pooling)))
    base_encoder: str = field(metadata=spec(text))
    input_names: list[str] = field(metadata=spec(_input_names))
    pad_token_id: int = field(metadata=spec(_token_id))
    method: Method = field(default=Method.PROBE, metadata=spec(choice(Method)))
    layer: int = field(default=-1, metadata=spec(_layer))
    quantization: Quantization = field(default=Quantization.NONE, metadata=spec(choice(Quantization)))
    long_text: LongTextPolicy = field(default=LongTextPolicy.TRUNCATE, metadata=spec(choice(LongTextPolicy)))
    window_stride: int = 0  # below max_length: checked in __post_init__, once max_length is
    window_aggregate: WindowAggregate = field(default=WindowAggregate.AUTO, metadata=spec(choice(WindowAggregate)))
    training: TrainingSummary = field(default_factory=TrainingSummary, metadata=spec(record(TrainingSummary)))
    verification: Verification = field(default_factory=Verification, metadata=spec(record(Verification)))
    created_by: str = field(default="", metadata=spec(text))
    # Encoder blocks kept in the graph: a probe on layer K exports only the first K (None: not recorded).
    encoder_layers: int | None = field(default=None, metadata=spec(_encoder_layers))
    decision: Decision = field(default_factory=Decision, metadata=spec(record(Decision)))
    temperature: float = field(default=1.0, metadata=spec(_temperature))  # folded into the graph already
    label_names: list[str] = field(default_factory=list, metadata=spec(_label_names))  # aligned with labels
    # Optional (absent from the file when None): the base encoder's provenance, and the model card (Markdown)
    provenance: Provenance | None = field(default=None, metadata=spec(record(Provenance)))
    speed: Speed | None = field(default=None, metadata=spec(record(Speed)))  # measured at export
    # The oldest onnxruntime release that runs this graph, when it needs more than its opset says (probe_runtime.compat)
    requires_onnxruntime: str | None = field(default=None, metadata=spec(text))
    # The exporter's answers on a few texts, checked on load wherever the file runs (probe_runtime.canary)
    canaries: Canaries | None = field(default=None, metadata=spec(record(Canaries)))
    card: str | None = field(default=None, metadata=spec(text))
    # One label per text (softmax), or several (a sigmoid per label, each decided by its threshold in ``thresholds``)
    task: Task = field(default=Task.SINGLE_LABEL, metadata=spec(choice(Task)))
    thresholds: LabelThresholds | None = field(default=None, metadata=spec(record(LabelThresholds)))
    # What reads the tokens (transformer blocks, or a static table and its size): shown by `info` (None: not recorded)
    encoder: EncoderRecord | None = field(default=None, metadata=spec(record(EncoderRecord)))

    def __post_init__(self) -> None:
        """Types and ranges of every field; what needs the graph or tokenizer is checked by the loader."""
        given = {k: v for k, v in self.__dict__.items() if not (v is None and k in _OPTIONAL)}  # None: not recorded
        for name, value in check_fields(given, Manifest, "").items():
            object.__setattr__(self, name, value)  # frozen: the typed value replaces the given one once
        if not (is_int(self.window_stride) and 0 <= self.window_stride < self.max_length):
            expected = f"an integer from 0 to {self.max_length - 1} (below max_length)"
            raise field_error("window_stride", expected, self.window_stride)
        self._check_names_and_decision()
        self._check_task()

    @property
    def schema_version(self) -> int:
        """The schema version this manifest's file is written with: 4 when a version-3 runtime would misread it
        (multi-label, an int8 table; see ``SCHEMA_VERSION``), else 3, which every runtime since then reads."""
        needs_4 = self.task is Task.MULTI_LABEL or self.quantization is Quantization.INT8_TABLE
        return 4 if needs_4 else 3

    def _check_task(self) -> None:
        """A multi-label file has a threshold for every label and no single-label rule; a single-label one none."""
        if self.task is Task.SINGLE_LABEL:
            if self.thresholds is not None:
                raise field_error("thresholds", "absent for a single-label file (task 'single-label')", "thresholds")
            return
        if self.thresholds is None:
            raise field_error("thresholds", "a threshold per label for task 'multi-label'", None)
        wanted, have = [str(label) for label in self.labels], set(self.thresholds.by_label)
        if have != set(wanted):
            missing, unknown = [x for x in wanted if x not in have], sorted(have - set(wanted))
            what = f"no threshold for {missing[:3]}" if missing else f"thresholds for unknown labels {unknown[:3]}"
            raise field_error("thresholds.by_label", f"one threshold per label {wanted[:10]}", what)
        if self.decision.rule is not DecisionRule.ARGMAX:
            expected = "'argmax' for a multi-label file (its decisions are the per-label thresholds)"
            raise field_error("decision.rule", expected, self.decision.rule.value)

    def _check_names_and_decision(self) -> None:
        """Display names one per label; a decision that fits the labels (binary rules need two)."""
        if self.label_names and len(self.label_names) != len(self.labels):
            expected = f"one display name per label ({len(self.labels)}), or empty"
            raise field_error("label_names", expected, self.label_names)
        d = self.decision
        if d.positive_label is not None and d.positive_label not in self.labels:
            raise field_error("decision.positive_label", f"one of the labels {self.labels}", d.positive_label)
        if d.threshold is not None and len(self.labels) != 2:
            raise field_error("decision.threshold", "absent: a threshold needs exactly two labels", d.threshold)
        if d.abstain_label is not None and d.abstain_label in [*map(str, self.labels), *self.label_names]:
            raise field_error("decision.abstain_label", "different from every label and display name", d.abstain_label)

    def to_json_dict(self) -> dict[str, Any]:
        """The manifest as JSON data, fields in declaration order (records' keys sorted); an optional field
        that is None is left out, so files without it read and hash as before."""
        return {
            f.name: to_plain(getattr(self, f.name))
            for f in fields(self)
            if not (f.default is None and getattr(self, f.name) is None)
        }

    def to_json(self) -> str:
        """The manifest as stored (sorted keys, so the same manifest always hashes the same)."""
        return json.dumps(self.to_json_dict(), ensure_ascii=False, sort_keys=True)

    def to_metadata(self, tokenizer_json: str) -> dict[str, str]:
        """The ``metadata_props`` an exporter writes, except the graph hash (``loader.seal_artifact`` adds it)."""
        manifest_json = self.to_json()
        return {
            KEY_SCHEMA: str(self.schema_version),
            KEY_MANIFEST: manifest_json,
            KEY_MANIFEST_SHA256: text_sha256(manifest_json),
            KEY_TOKENIZER: tokenizer_json,
            KEY_TOKENIZER_SHA256: text_sha256(tokenizer_json),
        }


_OPTIONAL = frozenset(f.name for f in fields(Manifest) if f.default is None)
_REQUIRED = ("labels", "max_length", "pooling", "base_encoder", "input_names", "pad_token_id")


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
    version = check_schema_version(metadata[KEY_SCHEMA], source)
    for key in (KEY_MANIFEST, KEY_MANIFEST_SHA256, KEY_TOKENIZER, KEY_TOKENIZER_SHA256, KEY_GRAPH_SHA256):
        if key not in metadata:
            raise ArtifactError(
                f"{source} lacks the probe metadata entry {key!r} (damaged, or edited by another tool); "
                "re-export the model or re-download it."
            )
    manifest_json, tokenizer_json = metadata[KEY_MANIFEST], metadata[KEY_TOKENIZER]
    check_hash(source, "manifest", metadata[KEY_MANIFEST_SHA256], text_sha256(manifest_json))
    check_hash(source, "tokenizer", metadata[KEY_TOKENIZER_SHA256], text_sha256(tokenizer_json))
    manifest = parse_manifest(manifest_json, source)
    # A version-4 manifest labelled older: a runtime of that version would misread it, so the label was edited
    if manifest.schema_version > 3 and int(version) < manifest.schema_version:
        raise ArtifactError(
            f"{source} is labelled artifact schema version {version}, but its manifest ({manifest.task}, "
            f"{manifest.quantization}) needs version {manifest.schema_version}: the file was edited after `probe "
            "export`. Re-download it or re-export the model."
        )
    return manifest, tokenizer_json


def check_schema_version(version: str, source: str, readable: tuple[str, ...] = READABLE_SCHEMA_VERSIONS) -> str:
    """``version`` if this runtime reads it (``readable``: the versions it knows; a runtime that predates a version
    refuses it here, in one line), else ``ArtifactError`` naming the versions and the fix."""
    if version not in readable:
        raise ArtifactError(
            f"{source} has artifact schema version {version[:20]!r}, but this probe-runtime reads versions "
            f"{', '.join(readable[:-1])} and {readable[-1]}. Install the probe-runtime release that matches the "
            "exporter (pip install -U probe-runtime), or re-export the model."
        )
    return version


def manifest_from_facts(facts: GraphFacts, source: str) -> tuple[Manifest, str]:
    """`manifest_from_metadata`, then the rest of the contract the file's bytes must keep: the graph matches
    its recorded SHA-256 and is one self-contained file (the runtime reads nothing outside it)."""
    manifest, tokenizer_json = manifest_from_metadata(facts.metadata, source)
    check_hash(source, "graph", facts.metadata[KEY_GRAPH_SHA256], facts.graph_sha256)
    if facts.unreadable is not None:
        raise ArtifactError(facts.unreadable)
    outside = facts.external_tensors
    if outside:
        shown = ", ".join(outside[:3]) + (f" and {len(outside) - 3} more" if len(outside) > 3 else "")
        raise ArtifactError(
            f"{source} keeps {len(outside)} tensor(s) in external data files ({shown}); a probe artifact is one "
            "self-contained file and the runtime reads nothing outside it. Re-export the model with `probe export`."
        )
    return manifest, tokenizer_json


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
