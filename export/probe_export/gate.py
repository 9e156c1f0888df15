"""The precision gate: does a cheaper graph answer like the fp32 graph? Measured with statistics, not a coin flip.

Two questions, answered on different data because they need different things:

- **Agreement** needs no labels, so it is measured on as many texts as the model directory has (training
  texts plus the labelled evaluation texts; thousands for any real task): the share of texts whose
  predicted label differs from fp32 ("flips", with a Wilson 95 % upper bound) and |Δprobability|.
- **Accuracy** needs labels, so it is measured on the evaluation texts only, *paired*: both graphs
  answer the same texts, and only the discordant texts carry information. McNemar's exact test on them
  (one-sided: "the candidate is less accurate") is what fails a candidate. One discordant text out of
  116 gives p = 0.5 and cannot fail an export; a real regression on 2,000 texts (say 30 texts lost,
  10 gained) gives p < 0.001 and does.

The statistics come from scipy (``binomtest`` and its Wilson interval) rather than being hand-rolled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

import numpy as np
from probe_runtime.records import AgreementRecord, PairedRecord
from scipy.stats import binomtest

__all__ = ["GateLimits", "GateVerdict", "agreement", "decide", "labels_decided", "paired_accuracy", "rounded", "same"]

# The figures are the artifact's own records (`probe_runtime.records`): what is measured here is what is stored.
Figures = TypeVar("Figures", AgreementRecord, PairedRecord)


@dataclass(frozen=True)
class GateLimits:
    """When a candidate precision is refused. See `decide` for how each limit is applied."""

    max_flip_rate: float = 0.03
    alpha: float = 0.05


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    reasons: tuple[str, ...]  # why it failed (empty when it passed)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reasons": list(self.reasons)}


def labels_decided(proba: np.ndarray, thresholds: np.ndarray | None = None) -> np.ndarray:
    """Each text's answer: the argmax label index, or (multi-label, ``thresholds`` per label) the 0/1 row of
    the labels whose probability is at least their threshold (the runtime's rule)."""
    return proba.argmax(1) if thresholds is None else (proba >= thresholds).astype(np.uint8)


def same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per text, whether two answers (`labels_decided`) are the same: for multi-label, every label's decision."""
    equal = np.asarray(a) == np.asarray(b)
    return equal if equal.ndim == 1 else equal.all(axis=1)


def agreement(fp32: np.ndarray, candidate: np.ndarray, thresholds: np.ndarray | None = None) -> AgreementRecord:
    """Flips and |Δp| of ``candidate`` against ``fp32`` probabilities ``[n, labels]``. A flip: the argmax
    differs, or (multi-label, ``thresholds`` per label) any label's decision at its threshold changes."""
    n = len(fp32)
    flips = int((~same(labels_decided(fp32, thresholds), labels_decided(candidate, thresholds))).sum())
    upper = binomtest(flips, n).proportion_ci(0.95, method="wilson").high if n else 1.0
    diff = np.abs(fp32.astype(np.float64) - candidate.astype(np.float64))
    return AgreementRecord(
        texts=n,
        flips=flips,
        flip_rate=flips / n if n else 0.0,
        flip_rate_upper=float(upper),
        max_abs_diff=float(diff.max()) if n else 0.0,
        mean_abs_diff=float(diff.mean()) if n else 0.0,
    )


def paired_accuracy(fp32_pred: np.ndarray, candidate_pred: np.ndarray, y: np.ndarray) -> PairedRecord:
    """Accuracy of both on labels ``y``, the paired difference with a 95 % interval, and McNemar's exact test.

    The interval is the normal approximation for a difference of paired proportions
    (var = (b + c − (c − b)² / n) / n²); it is reported, the decision uses the exact test.
    """
    n = len(y)
    right_fp32, right_cand = same(fp32_pred, y), same(candidate_pred, y)  # multi-label: every label right
    lost = int((right_fp32 & ~right_cand).sum())
    gained = int((~right_fp32 & right_cand).sum())
    delta = (gained - lost) / n if n else 0.0
    variance = ((gained + lost) - (gained - lost) ** 2 / n) / n**2 if n else 0.0
    half = 1.959964 * math.sqrt(max(variance, 0.0))
    p_worse = binomtest(lost, lost + gained, 0.5, alternative="greater").pvalue if lost + gained else 1.0
    return PairedRecord(
        texts=n,
        fp32_accuracy=float(right_fp32.mean()) if n else 0.0,
        accuracy=float(right_cand.mean()) if n else 0.0,
        delta_points=100 * delta,
        delta_low=100 * (delta - half),
        delta_high=100 * (delta + half),
        lost=lost,
        gained=gained,
        p_worse=float(p_worse),
    )


def decide(agreement_: AgreementRecord, paired: PairedRecord | None, limits: GateLimits) -> GateVerdict:
    """Refuse a candidate that flips more than ``max_flip_rate`` of the texts, or whose accuracy loss is
    significant at ``alpha`` (McNemar, one-sided). Without labels only the flip rate decides."""
    reasons = []
    if agreement_.flip_rate > limits.max_flip_rate:
        reasons.append(
            f"{agreement_.flip_rate:.2%} of {agreement_.texts} texts change label against fp32 "
            f"(limit {limits.max_flip_rate:.2%})"
        )
    if paired is not None and paired.p_worse < limits.alpha:
        reasons.append(
            f"accuracy {paired.accuracy:.4f} vs fp32 {paired.fp32_accuracy:.4f} on {paired.texts} labelled texts "
            f"({paired.lost} lost, {paired.gained} gained; McNemar p = {paired.p_worse:.3g} < {limits.alpha})"
        )
    return GateVerdict(not reasons, tuple(reasons))


def rounded(figures: Figures) -> Figures:
    """The figures rounded for the artifact's metadata (6 decimals)."""
    changes: dict[str, Any] = {
        f.name: round(v, 6) for f in fields(figures) if isinstance(v := getattr(figures, f.name), float)
    }
    return replace(figures, **changes)
