"""Prove the exported file still is the trained classifier: compare it with PyTorch on real texts."""

from __future__ import annotations

import numpy as np
from probe_runtime.records import Figures

from .gate import labels_decided, same

__all__ = ["compare"]


def compare(
    reference: np.ndarray, candidate: np.ndarray, y: np.ndarray | None, thresholds: np.ndarray | None = None
) -> Figures:
    """Agreement (the same answer: `gate.labels_decided`) and |Δprobability| against ``reference``; accuracy
    when labels are known. Multi-label (``thresholds`` per label, ``y`` 0/1 rows): subset accuracy and the
    macro-F1 over labels."""
    accuracy = macro_f1 = None
    if y is not None and len(y):
        from sklearn.metrics import f1_score

        pred = labels_decided(candidate, thresholds)
        accuracy = float(same(pred, y).mean())
        labels = None if thresholds is not None else list(range(reference.shape[1]))
        macro_f1 = float(f1_score(y, pred, labels=labels, average="macro", zero_division=0))
    return Figures(
        agreement=float(same(labels_decided(reference, thresholds), labels_decided(candidate, thresholds)).mean()),
        max_abs_diff=float(np.abs(reference - candidate).max()),
        mean_abs_diff=float(np.abs(reference - candidate).mean()),
        accuracy=accuracy,
        macro_f1=macro_f1,
    )
