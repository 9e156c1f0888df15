"""Choosing the precision of the shipped graph: build candidates, measure each against fp32, keep the fastest
that passes the gate (`probe_export.gate`).

``--quantize auto`` (the default) tries `AUTO_ORDER`: the fastest batch-INDEPENDENT candidate first, fp32
last (fp32 is the reference, so it always passes; nothing is ever thrown away). Measured on an Intel Xeon
with AMX, MiniLM-L6, side by side (research/int8_candidates, research/per_token_speed): per-token int8 runs
at 0.76-0.85x the speed of per-batch int8 and 2.2x fp32, and answers the same for a text alone or in any
batch (max |Δp| ~1e-7); per-batch int8 (``--quantize int8``) is faster but a text's answer depends on
its batch-mates, so it is only ever used when asked for by name. Every other variant measured there
(fp32 attention, fp32 outlier channels, the most sensitive matmuls in fp32, MatMulNBits 8-bit) was
slower than per-token int8 without being needed to pass the gate on the shared datasets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from probe_runtime import Classifier
from probe_runtime.choices import Quantization
from probe_runtime.records import CandidateRecord, GateRecord, PrecisionRecord

from . import AUTO, QUANTIZE_CHOICES
from .gate import GateLimits, agreement, decide, labels_decided, paired_accuracy, rounded
from .graph import quantize_int8

__all__ = ["AUTO", "AUTO_ORDER", "QUANTIZE_CHOICES", "Candidate", "Reference", "choose_precision", "record"]

log = logging.getLogger(__name__)

AUTO_ORDER = (Quantization.INT8_PER_TOKEN, Quantization.NONE)
# How many labelled texts are also classified one at a time (the app's way of calling), to measure
# batch dependence; every one of them for a batch-dependent candidate, whose gate counts the worse way.
ALONE_SAMPLE = 200
BATCH_TOLERANCE = 1e-4  # |Δp| alone vs batched that still counts as the same answer (float summation order)
# How many of the texts may move beyond it, as a share of those measured (at least 2): per-token int8 is per-row
# arithmetic, but onnxruntime's fp32 kernels block a batch differently from a lone text, and now and then a last bit
# lands on a rounding boundary of the next per-token quantization, moving that one text by one quantization step
# (TweetEval, MiniLM: 1 text of 200 moved by 3.9e-4). Per-batch int8 moves nearly every text. The same count
# decides a file's canary check on another CPU (`probe_runtime.canary`).
BATCH_MAX_MOVED_SHARE = 0.02


def batch_moved_limit(texts: int) -> int:
    """How many of ``texts`` measured alone and batched may differ beyond `BATCH_TOLERANCE` (lone rounding steps)."""
    return max(2, int(BATCH_MAX_MOVED_SHARE * texts))


@dataclass(frozen=True)
class Candidate:
    """One precision tried: its graph, its batched answers, and the record the artifact keeps of it."""

    path: Path
    record: CandidateRecord  # what it scored against fp32 and whether the gate let it through
    probs: np.ndarray = field(repr=False, compare=False)  # on every reference text, batched: measured once

    @property
    def name(self) -> Quantization:
        return self.record.name

    @property
    def passed(self) -> bool:
        return self.record.passed

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.record.reasons


def _build(name: Quantization, fused: Path, work: Path) -> Path:
    if name is Quantization.NONE:
        return fused
    path = work / f"{name}.onnx"
    quantize_int8(fused, path, per_token=name is Quantization.INT8_PER_TOKEN)
    return path


def _alone(run: Classifier, texts: list[str]) -> np.ndarray:
    return np.stack([run.predict_proba(text) for text in texts]) if texts else np.empty((0, 0))


@dataclass(frozen=True)
class Reference:
    """What every candidate is measured against: fp32's probabilities on the same texts.

    ``texts``: the unlabelled training sample, then the labelled texts (``labelled`` selects those, ``y``
    their labels, None without labels); ``load`` opens a candidate graph as a runtime `Classifier`."""

    load: Callable[[Path], Classifier]
    fp32: np.ndarray
    texts: list[str]
    labelled: slice
    y: np.ndarray | None
    thresholds: np.ndarray | None = None  # multi-label: each label's threshold (a flip: any label's decision)


def evaluate_candidate(
    name: Quantization,
    path: Path,
    ref: Reference,
    limits: GateLimits,
    require_batch_independent: bool = False,
    is_fp32: bool | None = None,
) -> Candidate:
    """Figures of one candidate graph: agreement with fp32 on every text (batched), paired accuracy on the
    labelled ones, and its answers one text per call (all labelled texts when it is batch-dependent).

    ``require_batch_independent`` (``auto``): refuse a graph whose answers for texts alone differ from their
    answers in a batch by more than `BATCH_TOLERANCE` for more than `batch_moved_limit` of them, whatever its
    flips. ``is_fp32``: the graph IS the reference (default: ``name`` is none); a static table's int8 form is
    measured whatever its name says."""
    run = ref.load(path)
    fp32 = name is Quantization.NONE if is_fp32 is None else is_fp32
    probs = ref.fp32 if fp32 else run.predict_proba(ref.texts)  # fp32 is the reference
    agree, cuts = agreement(ref.fp32, probs, ref.thresholds), ref.thresholds
    fp32_lab, cand_lab = ref.fp32[ref.labelled], probs[ref.labelled]
    labelled_texts = ref.texts[ref.labelled]
    dependent = name.batch_dependent
    alone_texts = labelled_texts if dependent else labelled_texts[:ALONE_SAMPLE]
    alone = _alone(run, alone_texts)
    per_text = np.abs(alone - cand_lab[: len(alone_texts)]).max(axis=1) if len(alone_texts) else np.zeros(0)
    alone_diff = float(per_text.max()) if len(per_text) else 0.0
    moved = int((per_text > BATCH_TOLERANCE).sum())
    independent = moved <= batch_moved_limit(len(alone_texts))
    paired = paired_one_by_one = None
    verdicts = []
    y = ref.y
    if y is not None and len(y):
        paired = paired_accuracy(labels_decided(fp32_lab, cuts), labels_decided(cand_lab, cuts), y)
        verdicts.append(decide(agree, paired, limits))
        if dependent:
            # An app calling predict(text) sees the one-by-one answers: the gate counts the worse way.
            paired_one_by_one = paired_accuracy(labels_decided(fp32_lab, cuts), labels_decided(alone, cuts), y)
            verdicts.append(decide(agreement(fp32_lab, alone, cuts), paired_one_by_one, limits))
    else:
        verdicts.append(decide(agree, None, limits))
    reasons = tuple(r for v in verdicts for r in v.reasons)
    if require_batch_independent and not independent:
        reasons += (
            f"{moved} of {len(alone_texts)} texts get probabilities more than {BATCH_TOLERANCE:g} apart alone and in a "
            f"batch (up to {alone_diff:.2g}); the default file must answer the same either way: at most "
            f"{batch_moved_limit(len(alone_texts))} may (a lone rounding step)",
        )
    record = CandidateRecord(
        name=name,
        passed=not reasons,
        batch_independent=independent,
        reasons=reasons,
        agreement=rounded(agree),
        paired=rounded(paired) if paired else None,
        paired_one_by_one=rounded(paired_one_by_one) if paired_one_by_one else None,
        alone_vs_batched_max_abs_diff=alone_diff,
        alone_vs_batched_texts=len(alone_texts),
        alone_vs_batched_moved=moved,
    )
    return Candidate(path, record, probs)


def choose_precision(
    requested: str, fused: Path, work: Path, ref: Reference, limits: GateLimits
) -> tuple[Candidate | None, list[Candidate]]:
    """Try ``requested`` (or `AUTO_ORDER` for ``auto``) in order; the first that passes is chosen.

    Returns (chosen or None when an explicitly requested precision failed, every candidate tried).
    """
    order = AUTO_ORDER if requested == AUTO else (Quantization(requested),)
    tried: list[Candidate] = []
    for name in order:
        path = _build(name, fused, work)
        candidate = evaluate_candidate(name, path, ref, limits, require_batch_independent=requested == AUTO)
        tried.append(candidate)
        log.info("precision %s: %s", name, "passed" if candidate.passed else "; ".join(candidate.reasons))
        if candidate.passed:
            return candidate, tried
    return None, tried


def record(requested: str, chosen: Candidate | None, tried: list[Candidate], limits: GateLimits) -> PrecisionRecord:
    """The ``verification.precision`` record of the artifact: what was asked, chosen, and why."""
    return PrecisionRecord(
        requested=requested,
        chosen=chosen.name if chosen else None,
        gate=GateRecord(max_flip_rate=limits.max_flip_rate, significance=limits.alpha),
        candidates=tuple(c.record for c in tried),
    )
