"""Held-out figures of a multi-label classifier, as one typed record (computed by scikit-learn).

Why several averages: micro-F1 counts every (text, label) decision alike, so the frequent labels dominate
it; macro-F1 averages the labels alike, so a rare label the model never gets right costs as much as a
frequent one (the figure GoEmotions' paper reports); weighted-F1 weighs labels by support. Subset accuracy
(every label of a text right) is the strictest; Hamming loss is the share of wrong (text, label) decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, hamming_loss, precision_recall_fscore_support

__all__ = ["LabelScores", "MultiLabelReport", "evaluate_multilabel", "format_multilabel_report"]


@dataclass(frozen=True)
class LabelScores:
    label: str
    precision: float
    recall: float
    f1: float
    support: int  # texts that carry the label


@dataclass(frozen=True)
class MultiLabelReport:
    n: int
    micro_f1: float
    macro_f1: float
    weighted_f1: float
    subset_accuracy: float
    hamming_loss: float
    per_label: tuple[LabelScores, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (the form results files and, in phase 2, the model directory record)."""
        return asdict(self)


def evaluate_multilabel(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> MultiLabelReport:
    """Figures for 0/1 truths and decisions [texts, labels]; a label with no true and no predicted text scores 0."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.shape[1] != len(labels):
        raise ValueError(f"y_true {y_true.shape}, y_pred {y_pred.shape} and {len(labels)} labels do not match")
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    per_label = tuple(
        LabelScores(str(name), float(precision[k]), float(recall[k]), float(f1[k]), int(support[k]))
        for k, name in enumerate(labels)
    )

    def average(kind: str) -> float:
        return float(f1_score(y_true, y_pred, average=kind, zero_division=0))

    return MultiLabelReport(
        n=len(y_true),
        micro_f1=average("micro"),
        macro_f1=average("macro"),
        weighted_f1=average("weighted"),
        subset_accuracy=float(accuracy_score(y_true, y_pred)),
        hamming_loss=float(hamming_loss(y_true, y_pred)),
        per_label=per_label,
    )


def format_multilabel_report(report: MultiLabelReport, title: str = "held-out evaluation") -> str:
    """A plain-text rendering for terminals: the averages, then one line per label."""
    width = max(12, *(len(s.label) + 2 for s in report.per_label))
    lines = [
        f"{title}: {report.n} texts",
        f"  micro-F1 {report.micro_f1:.4f}   macro-F1 {report.macro_f1:.4f}   weighted-F1 {report.weighted_f1:.4f}",
        f"  subset accuracy {report.subset_accuracy:.4f}   Hamming loss {report.hamming_loss:.4f}",
        "",
        f"  {'label':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}",
    ]
    lines += [
        f"  {s.label:<{width}}{s.precision:>10.4f}{s.recall:>10.4f}{s.f1:>10.4f}{s.support:>10d}"
        for s in report.per_label
    ]
    return "\n".join(lines)
