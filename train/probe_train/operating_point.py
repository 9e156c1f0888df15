"""Choosing the operating threshold a binary detector is deployed at, on data the model did not fit.

``--operating-point fpr=0.01`` asks for the threshold on the positive label's probability whose
false-positive rate on held-out predictions is at most 1 % (the most recall that allows, and at that
recall the highest threshold: the fewest false positives);
``recall=0.95`` the highest threshold that keeps 95 % recall (the fewest false positives);
``precision=0.99`` the lowest threshold whose precision is at least 99 % (the most recall);
``f1`` the threshold of the best F1. The rule is the runtime's: positive when the probability is at
least the threshold (`probe_runtime.decision.Decider`), and `operating_figures` measures exactly it.
The curves come from scikit-learn (`roc_curve`, `precision_recall_curve`); only the pick is ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from probe_runtime.choices import DecisionRule
from probe_runtime.records import OperatingFigures
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from .errors import FieldUsageError

__all__ = [
    "BINARY_RULES",
    "OperatingPoint",
    "choose_threshold",
    "curves",
    "operating_figures",
    "parse_operating_point",
]

BINARY_RULES = (DecisionRule.FPR, DecisionRule.RECALL, DecisionRule.PRECISION, DecisionRule.F1)
_CURVE_POINTS = 200  # at most this many points of each curve in the report (evenly spaced along it)


@dataclass(frozen=True)
class OperatingPoint:
    """What the user asked for: a rule (``argmax`` by default) and, for fpr/recall/precision, its target."""

    rule: DecisionRule = DecisionRule.ARGMAX
    target: float | None = None

    @property
    def binary(self) -> bool:
        return self.rule in BINARY_RULES

    def __str__(self) -> str:
        return self.rule.value if self.target is None else f"{self.rule.value}={self.target:g}"


def parse_operating_point(text: str) -> OperatingPoint:
    """``fpr=0.01``, ``recall=0.95``, ``precision=0.99``, ``f1`` or ``argmax`` (``UsageError`` otherwise)."""
    usage = "{operating_point} must be fpr=X, recall=X or precision=X (X between 0 and 1), f1 or argmax"
    name, _, value = text.strip().partition("=")
    if name in (DecisionRule.ARGMAX, DecisionRule.F1) and not value:
        return OperatingPoint(DecisionRule(name))
    if name not in (DecisionRule.FPR, DecisionRule.RECALL, DecisionRule.PRECISION) or not value:
        raise FieldUsageError(f"{usage}, not {text!r}", "operating_point")
    try:
        target = float(value)
    except ValueError:
        raise FieldUsageError(f"{usage}, not {text!r}", "operating_point") from None
    if not 0 < target < 1:
        raise FieldUsageError(f"{usage}: {target:g} is not between 0 and 1", "operating_point")
    return OperatingPoint(DecisionRule(name), target)


def operating_figures(scores: np.ndarray, positive: np.ndarray, threshold: float | None) -> OperatingFigures:
    """FPR, recall, precision and F1 of "positive when score >= threshold" (None: score >= 0.5 of two labels'
    probabilities, i.e. argmax) on ``scores`` with truth ``positive`` (booleans)."""
    called = scores >= (0.5 if threshold is None else threshold)
    tp = int(np.sum(called & positive))
    fp = int(np.sum(called & ~positive))
    fn = int(np.sum(~called & positive))
    negatives = int(np.sum(~positive))
    precision = tp / (tp + fp) if tp + fp else 1.0  # no positive call: no false one (sklearn's zero_division=1)
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return OperatingFigures(
        fpr=fp / negatives if negatives else 0.0,
        recall=recall,
        precision=precision,
        f1=f1,
        texts=len(scores),
        positives=int(positive.sum()),
        threshold=threshold,
    )


def _candidates(scores: np.ndarray) -> np.ndarray:
    """Every threshold that changes a decision: the distinct scores, and one above them all (no positive)."""
    distinct = np.unique(scores)
    above = min(1.0, float(np.nextafter(distinct[-1], np.inf)))
    return np.append(distinct, above) if above > distinct[-1] else distinct


def _rates(scores: np.ndarray, positive: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, ...]:
    """FPR, recall and precision of "score >= t" for every t at once (sorted counts, not a pass per t)."""
    pos, neg = np.sort(scores[positive]), np.sort(scores[~positive])
    tp = len(pos) - np.searchsorted(pos, thresholds, side="left")
    fp = len(neg) - np.searchsorted(neg, thresholds, side="left")
    called = tp + fp
    precision = np.where(called > 0, tp / np.maximum(called, 1), 1.0)  # as `operating_figures`
    return fp / len(neg), tp / len(pos), precision


def _fewest_false_positives(recall: np.ndarray, index: int) -> int:
    """The highest threshold with the recall of ``thresholds[index]``: the same positives, the fewest false ones.

    The lowest threshold within an FPR or precision target spends the whole false-positive budget even
    where it buys no recall; on a validation split the model separates perfectly that puts the threshold
    at a negative's score near 0 (seen: 1.5e-18), which flags most of what the model is unsure of.
    Recall falls as thresholds ascend, so the candidates with that recall are the run starting at ``index``.
    """
    same = np.flatnonzero(recall == recall[index])
    return int(same[-1])


def choose_threshold(scores: np.ndarray, positive: np.ndarray, point: OperatingPoint) -> float:
    """The threshold on ``scores`` (the positive label's probabilities) that meets ``point`` on this data.

    When no threshold reaches a precision target, the most precise one is taken (the figures show it).
    """
    if not point.binary:
        raise ValueError(f"{point} is not a binary operating point")
    positive = np.asarray(positive, dtype=bool)
    if positive.all() or not positive.any():
        raise FieldUsageError(
            "{operating_point} needs held-out examples of both labels; add examples or use argmax", "operating_point"
        )
    scores = np.asarray(scores, dtype=np.float64)
    thresholds = _candidates(scores)
    fpr, recall, precision = _rates(scores, positive, thresholds)
    target = point.target if point.target is not None else 0.0
    if point.rule is DecisionRule.FPR:  # thresholds ascend, FPR falls: the lowest one within the target
        index = _fewest_false_positives(recall, int(np.flatnonzero(fpr <= target)[0]))
    elif point.rule is DecisionRule.RECALL:  # recall falls: the highest one that keeps the target
        index = int(np.flatnonzero(recall >= target)[-1])
    elif point.rule is DecisionRule.PRECISION:
        reached = np.flatnonzero((precision >= target) & (recall > 0))
        index = int(reached[0]) if len(reached) else int(np.argmax(np.where(recall > 0, precision, -1)))
        index = _fewest_false_positives(recall, index)
    else:
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
        index = int(np.argmax(f1))
    return float(thresholds[index])


def _thin(*columns: np.ndarray) -> list[list[float]]:
    keep = np.unique(np.linspace(0, len(columns[0]) - 1, min(len(columns[0]), _CURVE_POINTS)).round().astype(int))
    return [[round(float(v), 6) for v in column[keep]] for column in columns]


def curves(scores: np.ndarray, positive: np.ndarray) -> dict[str, Any]:
    """ROC-AUC and PR-AUC (average precision), and the points of both curves (at most 200 each)."""
    if positive.all() or not positive.any():
        return {}
    fpr, tpr, roc_thresholds = roc_curve(positive, scores)
    precision, recall, pr_thresholds = precision_recall_curve(positive, scores)
    roc_thresholds = np.minimum(roc_thresholds, 1.0)  # scikit-learn's first point is at +inf
    roc = dict(zip(("fpr", "tpr", "thresholds"), _thin(fpr, tpr, roc_thresholds)))
    pr = dict(zip(("precision", "recall", "thresholds"), _thin(precision[:-1], recall[:-1], pr_thresholds)))
    return {
        "roc_auc": float(roc_auc_score(positive, scores)),
        "pr_auc": float(average_precision_score(positive, scores)),
        "roc_curve": roc,
        "pr_curve": pr,
    }
