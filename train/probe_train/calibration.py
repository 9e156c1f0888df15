"""Calibration: temperature scaling fitted on held-out data, and how calibrated probabilities are.

Temperature scaling (Guo et al., 2017) divides the logits by one number T fitted to minimise the
negative log-likelihood on data the model did not fit; argmax never changes, probabilities become
honest. `ClassifierModule` divides by T before its softmax, so the exported graph is calibrated.

Measured on the test data, before and after:
- ECE, expected calibration error: the top probability split into 15 equal-width bins over [0, 1];
  the |accuracy - mean confidence| of each bin, weighted by its share of texts.
- Brier score: the mean over texts of the squared error summed over classes (the multi-class
  definition; for two labels it is twice the binary one).
The reliability diagram (accuracy against confidence per bin) is drawn with matplotlib, an optional
extra (``pip install 'probe[plot]'``), imported only when a diagram is drawn.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

__all__ = [
    "ECE_BINS",
    "brier_score",
    "calibration_figures",
    "expected_calibration_error",
    "fit_temperature",
    "reliability_bins",
    "reliability_diagram_png",
    "scaled",
]

ECE_BINS = 15
# The temperature's range: the manifest accepts 0.01..100; beyond a few tens the model is guessing.
_LOG_T_BOUNDS = (np.log(0.05), np.log(50.0))


def scaled(logits: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / T): what the exported graph computes with temperature T."""
    result: np.ndarray = softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)
    return result


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The T minimising the negative log-likelihood of ``y`` under softmax(logits / T) (a bounded 1-D search
    over log T, so T stays positive). Log-probabilities work as logits: softmax ignores a per-row shift."""
    z = np.asarray(logits, dtype=np.float64)
    rows = np.arange(len(y))

    def nll(log_t: float) -> float:
        return float(-log_softmax(z / np.exp(log_t), axis=1)[rows, y].mean())

    result = minimize_scalar(nll, bounds=_LOG_T_BOUNDS, method="bounded")
    return round(float(np.exp(result.x)), 4)


def _bins(proba: np.ndarray, y: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width confidence bin: the share of texts, mean confidence and accuracy (NaN when empty)."""
    confidence, correct = proba.max(axis=1), proba.argmax(axis=1) == y
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(index, weights=correct, minlength=bins) / count
    return count / max(len(y), 1), mean_confidence, accuracy


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE over ``bins`` equal-width bins of the top probability (see the module's docstring)."""
    share, confidence, accuracy = _bins(np.asarray(proba), np.asarray(y), bins)
    filled = share > 0
    return float(np.sum(share[filled] * np.abs(accuracy[filled] - confidence[filled])))


def brier_score(proba: np.ndarray, y: np.ndarray) -> float:
    """The mean over texts of the squared error summed over classes."""
    onehot = np.eye(proba.shape[1])[y]
    return float(np.mean(np.sum((np.asarray(proba, dtype=np.float64) - onehot) ** 2, axis=1)))


def calibration_figures(test_logits: np.ndarray, y: np.ndarray, temperature: float, fitted_on: str) -> dict[str, Any]:
    """ECE and Brier on the test data before and after dividing the logits by ``temperature``."""
    before, after = scaled(test_logits, 1.0), scaled(test_logits, temperature)
    return {
        "temperature": temperature,
        "fitted_on": fitted_on,
        "ece_bins": f"{ECE_BINS} equal-width bins of the top probability",
        "ece_before": round(expected_calibration_error(before, y), 6),
        "ece_after": round(expected_calibration_error(after, y), 6),
        "brier_before": round(brier_score(before, y), 6),
        "brier_after": round(brier_score(after, y), 6),
        # The diagram's points after scaling, for the model card (`probe_export.plots.reliability_points`).
        "reliability": reliability_bins(after, y),
    }


def reliability_bins(proba: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> list[dict[str, float]]:
    """Each non-empty bin's mean confidence, share correct and share of texts (the reliability diagram's points)."""
    share, confidence, accuracy = _bins(np.asarray(proba), np.asarray(y), bins)
    return [
        {"confidence": round(float(c), 6), "accuracy": round(float(a), 6), "share": round(float(n), 6)}
        for n, c, a in zip(share, confidence, accuracy)
        if n > 0
    ]


def reliability_diagram_png(test_logits: np.ndarray, y: np.ndarray, temperature: float, title: str) -> bytes:
    """The reliability diagram (accuracy per confidence bin, before and after scaling) as PNG bytes.

    Raises ImportError naming the extra to install when matplotlib is absent.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("the reliability diagram needs matplotlib: pip install 'probe[plot]'") from None
    centres = (np.arange(ECE_BINS) + 0.5) / ECE_BINS
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    for t, name in ((1.0, "before"), (temperature, f"after (T = {temperature:g})")):
        proba = scaled(test_logits, t)
        share, _, accuracy = _bins(proba, y, ECE_BINS)
        filled = share > 0
        ece = expected_calibration_error(proba, y)
        ax.plot(centres[filled], accuracy[filled], marker="o", label=f"{name}: ECE {ece:.3f}")
    ax.set(xlabel="confidence (top probability)", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1), title=title)
    ax.legend(loc="upper left", fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
