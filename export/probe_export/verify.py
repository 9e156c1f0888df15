"""Prove the exported file still is the trained classifier: compare it with PyTorch on real texts."""

from __future__ import annotations

import numpy as np
from probe_runtime.records import Figures

__all__ = ["compare"]


def compare(reference: np.ndarray, candidate: np.ndarray, y: np.ndarray | None) -> Figures:
    """Argmax agreement and |Δprobability| against ``reference``; accuracy when labels are known."""
    accuracy = macro_f1 = None
    if y is not None and len(y):
        from sklearn.metrics import f1_score

        pred = candidate.argmax(1)
        accuracy = float((pred == y).mean())
        macro_f1 = float(f1_score(y, pred, labels=list(range(reference.shape[1])), average="macro", zero_division=0))
    return Figures(
        agreement=float((reference.argmax(1) == candidate.argmax(1)).mean()),
        max_abs_diff=float(np.abs(reference - candidate).max()),
        mean_abs_diff=float(np.abs(reference - candidate).mean()),
        accuracy=accuracy,
        macro_f1=macro_f1,
    )
