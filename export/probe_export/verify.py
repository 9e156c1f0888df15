"""Prove the exported file still is the trained classifier: compare it with PyTorch on real texts."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["compare"]


def compare(reference: np.ndarray, candidate: np.ndarray, y: np.ndarray | None) -> dict[str, Any]:
    """Argmax agreement and |Δprobability| against ``reference``; accuracy when labels are known."""
    figures: dict[str, Any] = {
        "agreement": float((reference.argmax(1) == candidate.argmax(1)).mean()),
        "max_abs_diff": float(np.abs(reference - candidate).max()),
        "mean_abs_diff": float(np.abs(reference - candidate).mean()),
    }
    if y is not None and len(y):
        from sklearn.metrics import f1_score

        pred = candidate.argmax(1)
        figures["accuracy"] = float((pred == y).mean())
        figures["macro_f1"] = float(
            f1_score(y, pred, labels=list(range(reference.shape[1])), average="macro", zero_division=0)
        )
    return figures
