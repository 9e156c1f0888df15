"""How probabilities become a label: the artifact's operating point, and the names labels are shown by.

A detector is deployed at an operating point, not at argmax, so `probe train` may store one in the
manifest (`probe_runtime.records.Decision`): for two labels, a threshold on the positive label's
probability; for more, a minimum score under which the answer is an abstain label. `Decider` applies
it to rows of probabilities; `predict_proba` never goes through here (probabilities stay raw).

Labels are *shown* by their display names (``Manifest.label_names``) when the artifact has them, the
training data's own labels otherwise; the original label stays available as ``Prediction.label_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .artifact import Label, Manifest
from .choices import DecisionRule
from .errors import UsageError

__all__ = ["ABSTAIN", "DEFAULT_ABSTAIN_LABEL", "Decider", "check_threshold", "decider_for", "display_labels"]

ABSTAIN = -1  # the index `Decider.indices` gives a text whose best probability is below the minimum score
DEFAULT_ABSTAIN_LABEL = "abstain"


def display_labels(manifest: Manifest) -> list[Label]:
    """The names outputs show, one per label: the display names when the artifact has them, else the labels."""
    return list(manifest.label_names) if manifest.label_names else list(manifest.labels)


def check_threshold(value: Any, name: str = "threshold") -> float:
    """A run-time threshold: a number from 0 to 1 (``UsageError`` naming ``name`` otherwise)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise UsageError(f"{name} must be a number from 0 to 1, not {value!r}")
    return float(value)


@dataclass(frozen=True)
class Decider:
    """The decision rule in force: the artifact's, or a run-time ``threshold`` override.

    ``threshold`` with ``positive`` (two labels): the positive label when its probability is at least
    the threshold, the other label otherwise. ``min_score`` (more labels): argmax, or ``ABSTAIN`` when
    the best probability is below it. Neither: argmax.
    """

    labels: tuple[Label, ...]  # display labels, in the graph's column order
    threshold: float | None = None
    positive: int | None = None
    min_score: float | None = None
    abstain_label: str = DEFAULT_ABSTAIN_LABEL

    def indices(self, proba: np.ndarray) -> np.ndarray:
        """The chosen column per row of ``proba`` (``[n, n_labels]``), ``ABSTAIN`` where the rule abstains."""
        if self.threshold is not None and self.positive is not None:
            negative = 1 - self.positive
            return np.where(proba[:, self.positive] >= self.threshold, self.positive, negative)
        best = proba.argmax(axis=1)
        if self.min_score is not None:
            best = np.where(proba.max(axis=1) >= self.min_score, best, ABSTAIN)
        return best

    def label(self, index: int) -> Label:
        """The display label of a column, or the abstain label."""
        return self.abstain_label if index == ABSTAIN else self.labels[index]

    @property
    def output_labels(self) -> list[Label]:
        """Every label an answer can be: the display labels, and the abstain label when the rule can abstain."""
        return [*self.labels, *([self.abstain_label] if self.min_score is not None else [])]

    def describe(self) -> str:
        """The rule in one phrase, for `info` and summaries."""
        if self.threshold is not None and self.positive is not None:
            return f"{self.labels[self.positive]} when its probability is at least {self.threshold:.4g}"
        if self.min_score is not None:
            return f"the most probable label, {self.abstain_label} when its probability is below {self.min_score:.4g}"
        return "the most probable label (argmax)"


def decider_for(manifest: Manifest, threshold: float | None = None) -> Decider:
    """The artifact's rule, or ``threshold`` in its place (two labels: on the positive label's probability;
    more: the minimum score below which the answer is the abstain label)."""
    shown = tuple(display_labels(manifest))
    d = manifest.decision
    abstain = d.abstain_label or DEFAULT_ABSTAIN_LABEL
    positive = _positive_index(manifest.labels, d.positive_label)
    if threshold is not None:
        value = check_threshold(threshold)
        if len(shown) == 2:
            return Decider(shown, threshold=value, positive=positive)
        return Decider(shown, min_score=value, abstain_label=abstain)
    if d.threshold is not None:
        return Decider(shown, threshold=d.threshold, positive=positive)
    if d.rule is DecisionRule.MIN_SCORE:
        return Decider(shown, min_score=d.min_score, abstain_label=abstain)
    return Decider(shown)


def _positive_index(labels: Sequence[Label], positive: Label | None) -> int:
    """The positive label's column: the recorded one, else the second label (``1`` of 0/1 data)."""
    return list(labels).index(positive) if positive is not None else 1
