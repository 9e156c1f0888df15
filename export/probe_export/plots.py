"""The card's pictures as PNG: confusion matrix, per-layer curve, reliability diagram.

matplotlib is an optional extra (``pip install 'probe[plot]'``), imported only when a picture is drawn,
with the Agg backend (files, no display). Every function writes one PNG of `SIZE` pixels atomically
and returns its path; the figures come from what the model directory or artifact stores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from probe_runtime.atomic import atomic_path
from probe_runtime.errors import UsageError

__all__ = [
    "DPI",
    "SIZE",
    "confusion_matrix_png",
    "layer_curve_png",
    "pyplot",
    "reliability_png",
    "reliability_points",
    "sweep_points",
]

SIZE = (6.4, 4.8)  # inches: at DPI, 640 x 480 pixels
DPI = 100
INSTALL = "pip install 'probe[plot]'  (or: pip install matplotlib)"


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, or a one-line `UsageError` with the install command."""
    try:
        import matplotlib
    except ImportError:
        raise UsageError(f"pictures need matplotlib, which is not installed: {INSTALL}") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, out: Path) -> Path:
    """Write ``figure`` to ``out`` at exactly SIZE x DPI pixels (no tight bbox: the size is a promise)."""
    plt = pyplot()
    figure.set_size_inches(*SIZE)
    figure.tight_layout()
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        figure.savefig(f, format="png", dpi=DPI)
    plt.close(figure)
    return out


def confusion_matrix_png(matrix: Sequence[Sequence[int]], labels: Sequence[Any], out: Path) -> Path:
    """Counts by true (rows) and predicted (columns) label, with the full label names."""
    plt = pyplot()
    figure, axes = plt.subplots()
    image = axes.imshow(matrix, cmap="Blues")
    names = [str(label) for label in labels]
    axes.set_xticks(range(len(names)), names, rotation=30 if max(map(len, names)) > 6 else 0, ha="right")
    axes.set_yticks(range(len(names)), names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    peak = max((v for row in matrix for v in row), default=0)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            colour = "white" if peak and value > peak / 2 else "black"
            axes.text(j, i, str(value), ha="center", va="center", color=colour)
    axes.set_title("confusion matrix (test split)")
    figure.colorbar(image, ax=axes)
    return _save(figure, out)


def _layers_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A `probe_train.layers.LayerScore` as a curve row: its CV accuracy, pooling named as the sweep names it."""
    pooling = f"{row.get('pooling', '')}{'+l2' if row.get('normalize') else ''}"
    return {"layer": row.get("layer"), "accuracy": row.get("cv_accuracy"), "pooling": pooling}


def sweep_points(sweep: Any) -> dict[str, list[tuple[int, float]]]:
    """``{pooling: [(layer, accuracy), ...]}`` from a sweep's JSON: the ``layers.json`` `probe layers --out`
    writes, or a list of rows (or ``{"rows": [...]}``) each with ``layer``, ``accuracy`` and optionally
    ``pooling``. Rows without both numbers are skipped."""
    if isinstance(sweep, Mapping) and isinstance(sweep.get("scores"), list):  # `probe layers --out`'s layers.json
        sweep = [_layers_row(row) for row in sweep["scores"] if isinstance(row, Mapping)]
    rows = sweep.get("rows", sweep.get("results", [])) if isinstance(sweep, Mapping) else sweep
    points: dict[str, list[tuple[int, float]]] = {}
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, Mapping) and isinstance(row.get("layer"), int) and isinstance(row.get("accuracy"), float):
            points.setdefault(str(row.get("pooling", "")), []).append((row["layer"], row["accuracy"]))
    return {k: sorted(v) for k, v in points.items()}


def reliability_points(calibration: Any) -> tuple[list[float], list[float]] | None:
    """(mean confidence, share correct) per bin from calibration figures: ``{"reliability": [{"confidence": ..,
    "accuracy": ..}, ...]}`` (``bins`` is read too); None when there are none to draw."""
    plain = calibration.to_json_dict() if hasattr(calibration, "to_json_dict") else calibration
    bins = (plain.get("reliability") or plain.get("bins")) if isinstance(plain, Mapping) else None
    if not isinstance(bins, list):
        return None
    pairs = [
        (float(b["confidence"]), float(b["accuracy"]))
        for b in bins
        if isinstance(b, Mapping)
        and isinstance(b.get("confidence"), (int, float))
        and isinstance(b.get("accuracy"), (int, float))
    ]
    return ([p[0] for p in pairs], [p[1] for p in pairs]) if pairs else None


def layer_curve_png(points: Mapping[str, Sequence[tuple[int, float]]], chosen: int | None, out: Path) -> Path:
    """Accuracy against encoder layer, one line per pooling; the layer the model uses is marked."""
    plt = pyplot()
    figure, axes = plt.subplots()
    for pooling, line in points.items():
        axes.plot([p[0] for p in line], [p[1] for p in line], marker="o", label=pooling or None)
    if chosen is not None and chosen >= 0:
        axes.axvline(chosen, color="grey", linestyle="--", label=f"layer used ({chosen})")
    axes.set_xlabel("encoder layer (0: embeddings)")
    axes.set_ylabel("accuracy")
    axes.set_title("accuracy by layer (sweep)")
    if axes.get_legend_handles_labels()[1]:
        axes.legend()
    return _save(figure, out)


def reliability_png(confidence: Sequence[float], accuracy: Sequence[float], out: Path) -> Path:
    """Mean confidence against accuracy per confidence bin; the diagonal is perfect calibration."""
    plt = pyplot()
    figure, axes = plt.subplots()
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
    axes.plot(confidence, accuracy, marker="o", label="model")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("mean predicted probability (bin)")
    axes.set_ylabel("share correct")
    axes.set_title("reliability diagram (test split)")
    axes.legend()
    return _save(figure, out)
