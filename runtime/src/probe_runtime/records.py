"""The typed records a manifest carries: the training summary and the export's verification.

How a record parses and checks its fields is `probe_runtime.record_fields` (`Record`, `spec` and the checks);
this module is the records themselves, so a field added to one is one line here.

Each record is a frozen dataclass whose fields name their JSON keys. A field's ``metadata["check"]``
turns the raw JSON value into the typed one or raises one `ArtifactError` naming the field by its
path (``verification.precision.candidates[0].passed``), so parsing and validation are one step and a
record that exists is valid. Hand-rolled rather than a validation library because the runtime depends
on onnxruntime, tokenizers and numpy only.

Keys a record does not know (written by an earlier exporter of the same schema) are kept in ``extra``
as read and written back unchanged: reading and re-writing a manifest loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .choices import DecisionRule, EncoderKind, Quantization
from .record_fields import (
    Record,
    choice,
    count,
    count_matrix,
    counts_by_name,
    field_error,
    flag,
    hashes_by_name,
    integer,
    json_object,
    label_value,
    number,
    probabilities_by_name,
    probability,
    probability_rows,
    record,
    records,
    scores_by_name,
    spec,
    text,
    texts,
    tolerance,
)

__all__ = [
    "AgreementRecord",
    "Canaries",
    "CandidateRecord",
    "Decision",
    "EncoderRecord",
    "Figures",
    "GateRecord",
    "LabelThresholds",
    "OperatingFigures",
    "PairedRecord",
    "PrecisionRecord",
    "Provenance",
    "Record",
    "Speed",
    "TrainingSummary",
    "Verification",
    "field_error",
]


@dataclass(frozen=True)
class TrainingSummary(Record):
    """What `probe train` measured and the settings worth knowing, as `probe export` records them."""

    accuracy: float | None = field(default=None, metadata=spec(number))  # on the test split
    macro_f1: float | None = field(default=None, metadata=spec(number))
    n: int | None = field(default=None, metadata=spec(count))  # test texts
    n_train: int | None = field(default=None, metadata=spec(count))
    majority_baseline: float | None = field(default=None, metadata=spec(number))
    train_seconds: float | None = field(default=None, metadata=spec(number))
    test_source: str | None = field(default=None, metadata=spec(text))
    # The probe's regularisation, chosen by cross-validation
    C: float | None = field(default=None, metadata=spec(number))
    seed: int | None = field(default=None, metadata=spec(integer))
    train_source: str | None = field(default=None, metadata=spec(text))
    epochs: int | None = field(default=None, metadata=spec(count))  # fine-tuning only, from here on
    learning_rate: float | None = field(default=None, metadata=spec(number))
    batch_size: int | None = field(default=None, metadata=spec(count))
    best_epoch: int | None = field(default=None, metadata=spec(count))
    steps: int | None = field(default=None, metadata=spec(count))
    normalize: bool | None = field(default=None, metadata=spec(flag))  # pooled vector L2-normalised before the head
    cv_accuracy: float | None = field(default=None, metadata=spec(number))  # the probe's CV accuracy at its C
    cv_spread: float | None = field(default=None, metadata=spec(number))  # ... and its std over the folds
    # "cross-validation" (both searched, the better kept) or "setting" (the user's flag); and both CV accuracies
    normalize_chosen_by: str | None = field(default=None, metadata=spec(text))
    cv_accuracy_raw: float | None = field(default=None, metadata=spec(number))
    cv_accuracy_l2: float | None = field(default=None, metadata=spec(number))
    # `probe train --weight-column`: {rows, zero, sum, max} of the per-row training weights (None: unweighted)
    sample_weight: dict[str, Any] | None = field(default=None, metadata=spec(json_object))
    # On the test split: {class: {precision, recall, f1, support}} and the confusion matrix (rows: truth)
    per_class: dict[str, dict[str, float]] | None = field(default=None, metadata=spec(scores_by_name))
    confusion_matrix: tuple[tuple[int, ...], ...] | None = field(default=None, metadata=spec(count_matrix))
    # The data trained and tested on: {"train": {source, rows, label_counts, rows_sha256, file_sha256}, "test": ...}
    data: dict[str, Any] | None = field(default=None, metadata=spec(json_object))
    # Multi-label files, on the test split (``per_class`` then holds each label's figures at its threshold)
    micro_f1: float | None = field(default=None, metadata=spec(number))
    weighted_f1: float | None = field(default=None, metadata=spec(number))
    subset_accuracy: float | None = field(default=None, metadata=spec(number))  # every label of a text right
    hamming_loss: float | None = field(default=None, metadata=spec(number))  # share of wrong (text, label) decisions


@dataclass(frozen=True)
class Provenance(Record):
    """The base encoder by what finds it again: hub id and revision, or the pip package and its version,
    and the SHA-256 of its weights files (never a path: it means nothing on another machine)."""

    name: str = field(metadata=spec(text))  # as the user named it (`minilm`, a hub id)
    hub_id: str | None = field(default=None, metadata=spec(text))
    revision: str | None = field(default=None, metadata=spec(text))  # the hub snapshot's commit
    package: str | None = field(default=None, metadata=spec(text))  # the pip distribution that shipped it
    package_version: str | None = field(default=None, metadata=spec(text))
    license: str | None = field(default=None, metadata=spec(text))
    weights_sha256: dict[str, str] | None = field(default=None, metadata=spec(hashes_by_name))


@dataclass(frozen=True)
class Figures(Record):
    """One graph's answers against a reference (PyTorch for fp32, fp32 for a quantized graph)."""

    agreement: float | None = field(default=None, metadata=spec(number))  # share of texts with the same label
    max_abs_diff: float | None = field(default=None, metadata=spec(number))
    mean_abs_diff: float | None = field(default=None, metadata=spec(number))
    accuracy: float | None = field(default=None, metadata=spec(number))  # with labelled texts
    macro_f1: float | None = field(default=None, metadata=spec(number))
    flip_rate: float | None = field(default=None, metadata=spec(number))  # quantized graphs: 1 - agreement
    agreement_with_torch: float | None = field(default=None, metadata=spec(number))


@dataclass(frozen=True)
class AgreementRecord(Record):
    """How often and how much a candidate's answers differ from fp32's on the same texts (no labels needed)."""

    texts: int = field(metadata=spec(count))
    flip_rate: float = field(metadata=spec(number))
    max_abs_diff: float = field(metadata=spec(number))
    flips: int | None = field(default=None, metadata=spec(count))
    flip_rate_upper: float | None = field(default=None, metadata=spec(number))  # Wilson 95 % upper bound
    mean_abs_diff: float | None = field(default=None, metadata=spec(number))


@dataclass(frozen=True)
class PairedRecord(Record):
    """Accuracy of fp32 and a candidate on the same labelled texts, and the paired test between them."""

    accuracy: float = field(metadata=spec(number))
    fp32_accuracy: float = field(metadata=spec(number))
    delta_points: float = field(metadata=spec(number))
    delta_low: float = field(metadata=spec(number))  # 95 % interval of the paired difference, in points
    delta_high: float = field(metadata=spec(number))
    p_worse: float = field(metadata=spec(number))  # McNemar exact, one-sided
    texts: int | None = field(default=None, metadata=spec(count))
    lost: int | None = field(default=None, metadata=spec(count))  # texts fp32 gets right and the candidate gets wrong
    gained: int | None = field(default=None, metadata=spec(count))  # the reverse


@dataclass(frozen=True)
class CandidateRecord(Record):
    """One precision the export tried: its figures against fp32 and the gate's verdict."""

    name: Quantization = field(metadata=spec(choice(Quantization)))
    passed: bool = field(metadata=spec(flag))
    batch_independent: bool = field(metadata=spec(flag))
    reasons: tuple[str, ...] = field(metadata=spec(texts))  # why the gate refused it (empty when it passed)
    agreement: AgreementRecord = field(metadata=spec(record(AgreementRecord)))
    paired: PairedRecord | None = field(default=None, metadata=spec(record(PairedRecord)))  # with labelled texts
    # Batch-dependent candidates
    paired_one_by_one: PairedRecord | None = field(default=None, metadata=spec(record(PairedRecord)))
    alone_vs_batched_max_abs_diff: float | None = field(default=None, metadata=spec(number))
    alone_vs_batched_texts: int | None = field(default=None, metadata=spec(count))
    # Of those, how many moved by more than 1e-4 (lone rounding steps; probe_export.precision.batch_moved_limit)
    alone_vs_batched_moved: int | None = field(default=None, metadata=spec(count))


@dataclass(frozen=True)
class GateRecord(Record):
    """The limits the candidates were held to (`probe_export.gate`)."""

    max_flip_rate: float = field(metadata=spec(number))  # a fraction, not a percentage
    significance: float = field(metadata=spec(number))


@dataclass(frozen=True)
class PrecisionRecord(Record):
    """How the shipped precision was chosen: what was asked (``auto`` or a precision), every candidate tried."""

    requested: str = field(metadata=spec(text))
    gate: GateRecord = field(metadata=spec(record(GateRecord)))
    candidates: tuple[CandidateRecord, ...] = field(metadata=spec(records(CandidateRecord)))
    # None: the requested precision failed
    chosen: Quantization | None = field(default=None, metadata=spec(choice(Quantization)))


@dataclass(frozen=True)
class OperatingFigures(Record):
    """A binary decision's figures on labelled texts, for the positive label (rates are fractions)."""

    fpr: float | None = field(default=None, metadata=spec(probability))  # negatives called positive
    recall: float | None = field(default=None, metadata=spec(probability))  # positives called positive
    precision: float | None = field(default=None, metadata=spec(probability))
    f1: float | None = field(default=None, metadata=spec(probability))
    texts: int | None = field(default=None, metadata=spec(count))
    positives: int | None = field(default=None, metadata=spec(count))  # texts whose true label is the positive one
    threshold: float | None = field(default=None, metadata=spec(probability))  # the threshold measured at


@dataclass(frozen=True)
class Decision(Record):
    """The operating point `probe train` chose: how probabilities become a label (`probe_runtime.decision`).

    Binary rules (fpr, recall, precision, f1) answer ``positive_label`` when its probability is at least
    ``threshold``, chosen on held-out data (``chosen_on``) for ``target``; ``validation`` is what the
    threshold achieved there. ``min_score`` (multi-class): below it, the answer is ``abstain_label``.
    """

    rule: DecisionRule = field(default=DecisionRule.ARGMAX, metadata=spec(choice(DecisionRule)))
    target: float | None = field(default=None, metadata=spec(probability))
    threshold: float | None = field(default=None, metadata=spec(probability))
    positive_label: str | int | None = field(default=None, metadata=spec(label_value))
    min_score: float | None = field(default=None, metadata=spec(probability))
    abstain_label: str | None = field(default=None, metadata=spec(text))
    chosen_on: str | None = field(default=None, metadata=spec(text))  # the held-out data the threshold was chosen on
    validation: OperatingFigures | None = field(default=None, metadata=spec(record(OperatingFigures)))

    def __post_init__(self) -> None:
        """The fields a rule needs: a threshold and positive label for binary targets; min_score, an abstain label."""
        rule = DecisionRule(self.rule)  # built in code, a record's fields are not checked: the rule may be a str
        binary = rule in (DecisionRule.FPR, DecisionRule.RECALL, DecisionRule.PRECISION, DecisionRule.F1)
        if binary and (self.threshold is None or self.positive_label is None):
            raise field_error("decision.threshold", f"set (with positive_label) for rule {rule.value!r}", None)
        if rule is DecisionRule.MIN_SCORE and (self.min_score is None or not self.abstain_label):
            raise field_error("decision.min_score", "set (with abstain_label) for rule 'min_score'", None)
        if not binary and self.threshold is not None:
            raise field_error("decision.threshold", f"absent for rule {rule.value!r}", self.threshold)


@dataclass(frozen=True)
class Verification(Record):
    """The export's proof that the file is the trained classifier: each graph against its reference."""

    torch: Figures | None = field(default=None, metadata=spec(record(Figures)))  # PyTorch against itself: its accuracy
    fp32: Figures | None = field(default=None, metadata=spec(record(Figures)))  # the fp32 ONNX graph against PyTorch
    # The shipped quantized graph against fp32
    int8: Figures | None = field(default=None, metadata=spec(record(Figures)))
    # Written by earlier exporters
    int8_one_by_one: Figures | None = field(default=None, metadata=spec(record(Figures)))
    precision: PrecisionRecord | None = field(default=None, metadata=spec(record(PrecisionRecord)))
    texts: int | None = field(default=None, metadata=spec(count))  # labelled texts the figures are measured on
    source: str | None = field(default=None, metadata=spec(text))  # where those texts come from
    agreement_texts: int | None = field(default=None, metadata=spec(count))  # texts the gate's agreement is measured on
    # Onnxruntime fusions applied, by op
    fused_ops: dict[str, int] | None = field(default=None, metadata=spec(counts_by_name))
    # Attention blocks of the graph no fused attention op runs (slower; the export warned): 0 = all fused
    unfused_attention: int | None = field(default=None, metadata=spec(count))
    # The shipped file's figures at the stored threshold (binary operating points), next to argmax's
    decision: OperatingFigures | None = field(default=None, metadata=spec(record(OperatingFigures)))
    decision_argmax: OperatingFigures | None = field(default=None, metadata=spec(record(OperatingFigures)))
    # The largest sum of two adjacent u8 x s8 products any input can give the shipped int8 graph's matmuls: at most
    # 32,767 means the same integers on every x86 CPU (AVX2 kernels add pairs into a saturating int16)
    int8_worst_pair_sum: int | None = field(default=None, metadata=spec(count))


@dataclass(frozen=True)
class Canaries(Record):
    """A few texts and the probabilities the exporter's machine gave them with the shipped graph, so that the
    file can check itself wherever it is loaded (``probe_runtime.canary``). The texts are the runtime's own
    public sample texts, never the user's data."""

    texts: tuple[str, ...] = field(metadata=spec(texts))
    probabilities: tuple[tuple[float, ...], ...] = field(metadata=spec(probability_rows))  # one row per text
    cpu: str = field(metadata=spec(text))  # the exporting machine: model (int8 instructions)
    tolerance: float = field(metadata=spec(tolerance))  # the largest |Δp| that still counts as the same answer
    max_moved: int = field(metadata=spec(count))  # how many canaries may move beyond it (lone rounding flips)
    onnxruntime: str | None = field(default=None, metadata=spec(text))

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.probabilities):
            raise field_error("canaries.probabilities", f"one row per canary text ({len(self.texts)})", "rows")


@dataclass(frozen=True)
class Speed(Record):
    """A short measurement of the shipped graph on the exporting machine (the card's speed line)."""

    cpu: str = field(metadata=spec(text))  # model name, and whether it has AMX int8 / AVX-512 VNNI
    threads: int = field(metadata=spec(count))
    latency_ms_p50: float = field(metadata=spec(number))  # one text per call
    texts_per_s: float = field(metadata=spec(number))  # a batch of ``batch_size`` texts per call
    batch_size: int = field(metadata=spec(count))
    texts: int = field(metadata=spec(count))  # the built-in sample texts measured on
    latency_ms_p95: float | None = field(default=None, metadata=spec(number))
    amx: bool | None = field(default=None, metadata=spec(flag))
    onnxruntime: str | None = field(default=None, metadata=spec(text))


@dataclass(frozen=True)
class LabelThresholds(Record):
    """A multi-label file's decisions: a label applies to a text when its probability is at least its threshold.

    ``by_label`` maps every label (as a string: JSON keys are strings) to its threshold, chosen on data the model
    did not fit (``chosen_on``) for ``target`` (``"f1"``, ``"precision=0.9"``, ``"recall=0.8"``; None: not
    recorded); a load-time override replaces some of them (`probe_runtime.load_options.LoadOptions.thresholds`).
    """

    by_label: dict[str, float] = field(metadata=spec(probabilities_by_name))
    target: str | None = field(default=None, metadata=spec(text))
    chosen_on: str | None = field(default=None, metadata=spec(text))


@dataclass(frozen=True)
class EncoderRecord(Record):
    """What turns tokens into the vector the head reads, for `info` and the card: transformer blocks or a static
    table (``dims`` wide, ``vocab`` rows, distilled from ``distilled_from``, the transformer's name)."""

    kind: EncoderKind = field(metadata=spec(choice(EncoderKind)))
    dims: int | None = field(default=None, metadata=spec(count))
    vocab: int | None = field(default=None, metadata=spec(count))
    distilled_from: str | None = field(default=None, metadata=spec(text))
