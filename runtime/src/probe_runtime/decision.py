"""How probabilities become a label: the artifact's operating point, and the names labels are shown by.

A detector is deployed at an operating point, not at argmax, so `probe train` may store one in the
manifest (`probe_runtime.records.Decision`): for two labels, a threshold on the positive label's
probability; for more, a minimum score under which the answer is an abstain label. `Decider` applies
it to rows of probabilities; `predict_proba` never goes through here (probabilities stay raw).

A multi-label file (``Manifest.task``) decides every label on its own: a label applies when its independent
probability is at least its threshold (``Manifest.thresholds``, each replaceable at load time).

Labels are *shown* by their display names (``Manifest.label_names``) when the artifact has them, the
training data's own labels otherwise; the original label stays available as ``Prediction.label_id``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .artifact import Label, Manifest
from .choices import DecisionRule, Task
from .errors import UsageError

__all__ = [
    "ABSTAIN",
    "DEFAULT_ABSTAIN_LABEL",
    "Decider",
    "check_threshold",
    "check_thresholds",
    "decider_for",
    "display_labels",
]

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


def check_thresholds(value: Any) -> dict[str, float]:
    """Run-time per-label thresholds: a mapping of label names to numbers from 0 to 1 (``UsageError`` otherwise);
    whether the names are the file's labels is checked when it is loaded (`decider_for`)."""
    if not isinstance(value, Mapping):
        raise UsageError(f"thresholds must be a mapping of label to threshold, not {type(value).__name__}")
    for name in value:
        if not isinstance(name, str) or not name:
            raise UsageError(f"thresholds: every label must be a non-empty string, not {name!r}")
    return {name: check_threshold(v, f"the threshold of label {name!r}") for name, v in value.items()}


@dataclass(frozen=True)
class Decider:
    """The decision rule in force: the artifact's, or a run-time ``threshold`` override.

    ``threshold`` with ``positive`` (two labels): the positive label when its probability is at least
    the threshold, the other label otherwise. ``min_score`` (more labels): argmax, or ``ABSTAIN`` when
    the best probability is below it. ``per_label`` (multi-label files): one threshold per column, and every
    label at or above its threshold applies (`passing`). Neither: argmax.
    """

    labels: tuple[Label, ...]  # display labels, in the graph's column order
    threshold: float | None = None
    positive: int | None = None
    min_score: float | None = None
    abstain_label: str = DEFAULT_ABSTAIN_LABEL
    per_label: tuple[float, ...] | None = None  # multi-label: each column's threshold

    @property
    def multi_label(self) -> bool:
        return self.per_label is not None

    def passing(self, proba: np.ndarray) -> np.ndarray:
        """Multi-label: per row of ``proba`` and per column, whether the label applies (``[n, n_labels]`` bools)."""
        if self.per_label is None:
            raise ValueError("passing() is the decision of multi-label files")
        return proba >= np.asarray(self.per_label, dtype=proba.dtype)[None, :]

    def label_sets(self, proba: np.ndarray) -> list[tuple[Label, ...]]:
        """Multi-label: per row, the labels that apply, most probable first (ties in column order)."""
        passing = self.passing(proba)
        return [
            tuple(self.labels[j] for j in np.argsort(-row, kind="stable") if ok[j]) for row, ok in zip(proba, passing)
        ]

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
        if self.per_label is not None:
            shown = ", ".join(f"{label} {t:.4g}" for label, t in zip(self.labels, self.per_label))
            return f"every label whose probability is at least its threshold ({shown})"
        if self.threshold is not None and self.positive is not None:
            return f"{self.labels[self.positive]} when its probability is at least {self.threshold:.4g}"
        if self.min_score is not None:
            return f"the most probable label, {self.abstain_label} when its probability is below {self.min_score:.4g}"
        return "the most probable label (argmax)"


def decider_for(
    manifest: Manifest, threshold: float | None = None, thresholds: Mapping[str, float] | None = None, source: str = ""
) -> Decider:
    """The artifact's rule, or ``threshold`` in its place (two labels: on the positive label's probability;
    more: the minimum score below which the answer is the abstain label; multi-label: every label's threshold).
    ``thresholds`` (multi-label files only): some labels' thresholds, by label or display name, over those."""
    shown = tuple(display_labels(manifest))
    if manifest.task is Task.MULTI_LABEL:
        return Decider(shown, per_label=_per_label(manifest, threshold, thresholds or {}, source))
    if thresholds:
        raise UsageError(
            f"{source or 'this file'} is single-label: per-label thresholds (--label-threshold) are for multi-label "
            "files; use threshold (--threshold) for its decision"
        )
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


def _per_label(
    manifest: Manifest, threshold: float | None, overrides: Mapping[str, float], source: str
) -> tuple[float, ...]:
    """Each column's threshold: the file's, or ``threshold`` for every label, then ``overrides`` by label or name."""
    assert manifest.thresholds is not None  # a multi-label manifest has them (`Manifest._check_task`)
    keys = [str(label) for label in manifest.labels]
    names = [str(name) for name in display_labels(manifest)]
    values = [manifest.thresholds.by_label[k] if threshold is None else check_threshold(threshold) for k in keys]
    for name, value in check_thresholds(overrides).items():
        column = keys.index(name) if name in keys else names.index(name) if name in names else None
        if column is None:
            raise UsageError(
                f"{source or 'this file'} has no label {name!r} to set a threshold for; its labels are "
                f"{', '.join(names[:20])}"
            )
        values[column] = value
    return tuple(values)
