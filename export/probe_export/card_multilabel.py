"""The card's test-metrics section for a multi-label file: the averages (micro-, macro-, weighted-F1, subset
accuracy, Hamming loss), then each label's threshold and its precision, recall, F1 and support at it.

Kept beside `card` (which renders single-label files' accuracy, per-class table and confusion matrix) so
that card stays within its size; `card._metrics` hands a multi-label file's facts here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from probe_runtime.records import LabelThresholds, TrainingSummary

__all__ = ["multilabel_metrics"]

Table = Callable[[Sequence[str], Sequence[Sequence[Any]]], list[str]]


def multilabel_metrics(t: TrainingSummary, thresholds: LabelThresholds, test: str, table: Table) -> list[str]:
    """The section's lines (``table`` renders a Markdown table, as the rest of the card does)."""
    chosen = f" for {thresholds.target}" if thresholds.target else ""
    chosen += f" on {thresholds.chosen_on}" if thresholds.chosen_on else ""
    lines = [
        "## Test metrics",
        "",
        "Multi-label: every label has its own probability (a sigmoid) and applies to a text when the probability "
        f"is at least the label's threshold (chosen{chosen}).",
    ]
    if t.macro_f1 is not None:
        lines += [
            "",
            f"On {t.n} held-out texts ({test}): micro-F1 **{t.micro_f1 or 0:.4f}**, macro-F1 **{t.macro_f1:.4f}**, "
            f"weighted-F1 {t.weighted_f1 or 0:.4f}, subset accuracy {t.subset_accuracy or 0:.4f}, "
            f"Hamming loss {t.hamming_loss or 0:.4f}.",
        ]
    scores = t.per_class or {}
    rows = [
        [
            label,
            threshold,
            *(scores[label].get(k, 0.0) for k in ("precision", "recall", "f1")),
            int(scores[label].get("support", 0)) if label in scores else "",
        ]
        if label in scores
        else [label, threshold, "", "", "", ""]
        for label, threshold in thresholds.by_label.items()
    ]
    return [*lines, "", *table(["label", "threshold", "precision", "recall", "F1", "support"], rows)]
