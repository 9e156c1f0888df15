"""One text's answer (`Prediction`), and how a row of probabilities becomes one under the decision rule in force."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .artifact import Label
from .decision import ABSTAIN, Decider
from .long_text import Coverage

__all__ = ["Prediction", "predictions"]


@dataclass(frozen=True)
class Prediction:
    """One text's result: the label the artifact's decision rule gives, its probability, every class's.

    ``label`` is the label as shown: its display name when the artifact has label names, else the label
    of the training data; ``label_id`` is always that original label (None when the rule abstained and
    ``label`` is the abstain label). ``scores`` are keyed by the shown labels; ``top``: the ``top_k``
    (label, probability) pairs, most probable first, when `classify` was asked for them.
    ``windows``: how many windows of the text were classified (1 unless ``long_text="window"``);
    ``truncated``: part of the text was not read (beyond ``max_length`` tokens when truncating, or
    beyond ``max_windows`` windows when windowing, or beyond the characters `batching.clip_text` lets
    reach the tokenizer).

    A multi-label file's answer is ``labels``: every label whose probability is at least its threshold, most
    probable first, possibly none; ``scores`` are then the labels' independent probabilities (they need not sum
    to 1), and ``label``/``score`` the most probable label and its probability, whether or not it passed (what a
    Hugging Face multi-label pipeline answers with ``top_k=1``). ``labels`` is None for single-label files.
    """

    label: Label
    score: float
    scores: dict[Label, float]
    windows: int = 1
    truncated: bool = False
    label_id: Label | None = None
    top: tuple[tuple[Label, float], ...] = ()
    labels: tuple[Label, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON data (``json.dumps`` takes it): score keys become strings, as JSON object keys must be."""
        data: dict[str, Any] = {
            "label": self.label,
            "label_id": self.label_id,
            "score": self.score,
            "scores": {str(k): v for k, v in self.scores.items()},
            "windows": self.windows,
            "truncated": self.truncated,
        }
        if self.labels is not None:
            data["labels"] = list(self.labels)
        if self.top:
            data["top"] = [{"label": label, "score": score} for label, score in self.top]
        return data


def predictions(
    decider: Decider, labels: Sequence[Label], proba: np.ndarray, coverage: Coverage, top_k: int | None = None
) -> list[Prediction]:
    """One `Prediction` per row of ``proba`` (columns in the order of ``labels``, the artifact's own)."""
    chosen = decider.indices(proba)
    answers = [
        _prediction(decider, labels, row, int(index), int(windows), bool(truncated), top_k)
        for row, index, windows, truncated in zip(proba, chosen, coverage.windows, coverage.truncated)
    ]
    if not decider.multi_label:
        return answers
    return [replace(answer, labels=applied) for answer, applied in zip(answers, decider.label_sets(proba))]


def _prediction(
    decider: Decider,
    labels: Sequence[Label],
    row: np.ndarray,
    index: int,
    windows: int,
    truncated: bool,
    top_k: int | None,
) -> Prediction:
    shown = decider.labels
    scores = {label: float(p) for label, p in zip(shown, row)}
    # Abstaining, the score is the best probability: the one that fell short of the minimum.
    score = float(row.max()) if index == ABSTAIN else float(row[index])
    label_id = None if index == ABSTAIN else labels[index]
    top = tuple((shown[i], float(row[i])) for i in np.argsort(-row, kind="stable")[:top_k]) if top_k else ()
    return Prediction(decider.label(index), score, scores, windows, truncated, label_id, top)
