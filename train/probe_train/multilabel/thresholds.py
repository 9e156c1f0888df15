"""A decision threshold per label, chosen on probabilities the model did not fit, for a target the user names.

One global 0.5 suits no label of a skewed multi-label task: a label on 0.2 % of the texts rarely gets a
probability above 0.5 from a model fitted without weights, and rarely gets one below it from a model
fitted with balanced weights. So each label gets its own threshold, chosen on out-of-fold probabilities
(`MultiLabelFit.held_out`; fine-tuning: its validation split) for one of three targets:

- ``f1`` (default): the threshold with the label's best F1;
- ``precision=X``: the lowest threshold whose precision is at least X (the most recall at that precision);
- ``recall=X``: the highest threshold whose recall is at least X (the most precision at that recall).

A label whose precision never reaches X keeps its most precise threshold and says so (``reached=False``).
Curves come from scikit-learn's `precision_recall_curve`; a text is predicted to carry a label when its
probability is >= the label's threshold (the runtime applies the same rule).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
from probe_runtime.errors import UsageError
from sklearn.metrics import precision_recall_curve

__all__ = ["Goal", "LabelThreshold", "ThresholdTarget", "Thresholds", "choose_thresholds"]

_TARGET = re.compile(r"^\s*(?P<goal>f1|precision|recall)\s*(=\s*(?P<value>[0-9.eE+-]+))?\s*$")


class Goal(str, Enum):
    """What a label's threshold optimises."""

    F1 = "f1"
    PRECISION = "precision"
    RECALL = "recall"


@dataclass(frozen=True)
class ThresholdTarget:
    """``f1``, or ``precision``/``recall`` with the level ``value`` (0 < value <= 1) to reach."""

    goal: Goal = Goal.F1
    value: float | None = None

    def __post_init__(self) -> None:
        if self.goal is Goal.F1 and self.value is not None:
            raise UsageError(f"the target f1 takes no level (got f1={self.value:g}); write f1")
        if self.goal is not Goal.F1 and (self.value is None or not 0 < self.value <= 1):
            raise UsageError(f"the target {self.goal.value} needs a level in (0, 1]: write {self.goal.value}=0.9")

    @classmethod
    def parse(cls, text: str) -> ThresholdTarget:
        """``"f1"``, ``"precision=0.9"`` or ``"recall=0.8"``; anything else is one line saying what to write."""
        match = _TARGET.match(text.lower())
        if match is None:
            raise UsageError(f"threshold target {text!r} is not understood; write f1, precision=0.9 or recall=0.8")
        value = match.group("value")
        try:
            level = None if value is None else float(value)
        except ValueError:
            raise UsageError(
                f"threshold target {text!r}: {value!r} is not a number; write e.g. precision=0.9"
            ) from None
        return cls(Goal(match.group("goal")), level)

    def __str__(self) -> str:
        return self.goal.value if self.value is None else f"{self.goal.value}={self.value:g}"


@dataclass(frozen=True)
class LabelThreshold:
    """One label's threshold and what it achieved on the probabilities it was chosen on."""

    label: str
    threshold: float
    precision: float
    recall: float
    f1: float
    support: int
    reached: bool  # precision=/recall= targets: whether the level was reached (f1: always True)


@dataclass(frozen=True)
class Thresholds:
    """A threshold per label (in the model's label order) and the target they were chosen for."""

    target: ThresholdTarget
    labels: tuple[LabelThreshold, ...]

    def values(self) -> np.ndarray:
        return np.array([t.threshold for t in self.labels], dtype=np.float64)

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """0/1 decisions [texts, labels]: a label applies when its probability is >= its threshold."""
        return (np.asarray(proba) >= self.values()).astype(np.uint8)


def _pick(precision: np.ndarray, recall: np.ndarray, target: ThresholdTarget) -> tuple[int, bool]:
    """Index into the curve (thresholds ascending) that meets ``target`` best, and whether it met it."""
    if target.goal is Goal.F1:
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-300), 0.0)
        return int(np.argmax(f1)), True
    level = float(target.value)  # type: ignore[arg-type]  # set for precision/recall (checked at construction)
    if target.goal is Goal.PRECISION:
        ok = np.flatnonzero(precision >= level)
        if len(ok) == 0:
            return int(np.argmax(precision)), False
        return int(ok[np.argmax(recall[ok])]), True  # recall falls as the threshold rises: the lowest such
    ok = np.flatnonzero(recall >= level)  # never empty: the lowest threshold predicts every positive
    return int(ok[-1]), True


def _one(label: str, y: np.ndarray, proba: np.ndarray, target: ThresholdTarget) -> LabelThreshold:
    support = int(y.sum())
    if support == 0:  # nothing to measure against: never predict it (training data cannot get here)
        return LabelThreshold(label, 1.0, 0.0, 0.0, 0.0, 0, target.goal is Goal.F1)
    precision, recall, cuts = precision_recall_curve(y, proba)
    precision, recall = precision[:-1], recall[:-1]  # the last point (recall 0) has no threshold
    i, reached = _pick(precision, recall, target)
    p, r = float(precision[i]), float(recall[i])
    return LabelThreshold(label, float(cuts[i]), p, r, 2 * p * r / (p + r) if p + r else 0.0, support, reached)


def choose_thresholds(
    y: np.ndarray, proba: np.ndarray, labels: Sequence[str], target: ThresholdTarget | None = None
) -> Thresholds:
    """A threshold per label for ``target`` (default f1), from 0/1 truths and held-out probabilities [texts, labels]."""
    target = target or ThresholdTarget()
    y, proba = np.asarray(y), np.asarray(proba)
    if y.shape != proba.shape or y.shape[1] != len(labels):
        raise ValueError(f"y {y.shape}, proba {proba.shape} and {len(labels)} labels do not match")
    return Thresholds(target, tuple(_one(str(name), y[:, k], proba[:, k], target) for k, name in enumerate(labels)))
