"""Held-out evaluation: the numbers a user should see before trusting a classifier."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

if TYPE_CHECKING:
    from .records import TrainReport

__all__ = ["evaluate", "format_report"]


def evaluate(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[Any]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix (rows: truth)."""
    ks = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=ks, zero_division=0)
    majority = np.bincount(y_true, minlength=len(labels)).max() / max(len(y_true), 1)
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=ks, average="macro", zero_division=0)),
        "majority_baseline": float(majority),
        "per_class": {
            str(label): {
                "precision": float(precision[k]),
                "recall": float(recall[k]),
                "f1": float(f1[k]),
                "support": int(support[k]),
            }
            for k, label in enumerate(labels)
        },
        "labels": list(labels),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=ks).tolist(),
    }


def format_report(report: TrainReport, title: str = "held-out evaluation") -> str:
    """A plain-text rendering for terminals."""
    labels = [str(label) for label in report.labels or ()]
    per_class = report.per_class or {}
    width = max(12, *(len(label) + 2 for label in labels))
    lines = [
        f"{title}: {report.n} examples",
        f"  accuracy  {report.accuracy:.4f}   macro-F1  {report.macro_f1:.4f}   "
        f"(majority class {report.majority_baseline:.4f})",
        "",
        f"  {'class':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}",
    ]
    for label in labels:
        c = per_class[label]
        lines.append(
            f"  {label:<{width}}{c['precision']:>10.4f}{c['recall']:>10.4f}{c['f1']:>10.4f}{c['support']:>10d}"
        )
    lines += ["", "  confusion matrix (rows: true, columns: predicted)"]
    lines.append("  " + " " * width + "".join(f"{label[:9]:>10}" for label in labels))
    for label, row in zip(labels, report.confusion_matrix or ()):
        lines.append(f"  {label:<{width}}" + "".join(f"{v:>10d}" for v in row))
    return "\n".join(lines)
