"""Where in the encoder does the task live? Probe every layer with every pooling, from one encoder pass.

`sweep_layers` embeds the training (and test) texts once, keeping every hidden state pooled every way
(`embeddings.layer_embeddings`, cached on disk), then fits the cross-validated probe (`probe`) on each
layer x pooling x L2 normalisation. The recommendation is read from the cross-validation on the
training data only (the test set stays a held-out check, not a tuning set): the EARLIEST layer whose
CV accuracy is within ``tolerance`` points of the best, because an earlier layer is a smaller, faster
export (`probe export` drops the blocks after it) for the same quality.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .data import Dataset
from .embedding_cache import EmbeddingCache
from .embeddings import layer_embeddings
from .encoder import Encoder
from .metrics import evaluate
from .pooling import Pooling, l2_normalize
from .probe import Search, fit_probe_cv

__all__ = [
    "FORMAT",
    "LayerScore",
    "Sweep",
    "is_sweep_dir",
    "plot_sweep",
    "recommend",
    "sweep_layers",
    "table_lines",
]

FORMAT = "probe-layer-sweep"
RESULTS, PLOT = "layers.json", "layers.png"
DEFAULT_TOLERANCE = 0.5  # accuracy points
PLOT_INSTALL = "pip install 'probe[plot]'  (or: pip install matplotlib)"


@dataclass(frozen=True)
class LayerScore:
    """One probe of the sweep: where it read, how well it did in CV (train) and on the test data, how long."""

    layer: int  # hidden-state index: 0 embeddings, k after block k
    pooling: str
    normalize: bool
    cv_accuracy: float
    cv_spread: float  # std of the fold accuracies at the chosen C
    C: float
    seconds: float  # the CV search and the refit
    accuracy: float | None = None  # on the test data, when given
    macro_f1: float | None = None

    @property
    def name(self) -> str:
        return f"{self.pooling}{'+l2' if self.normalize else ''}"


@dataclass(frozen=True)
class Sweep:
    encoder: str
    n_layers: int
    n_train: int
    n_test: int
    tolerance: float
    scores: list[LayerScore]
    recommended: LayerScore
    best: LayerScore
    embed_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"format": FORMAT, "metric": "cv_accuracy", **data}


def recommend(scores: Sequence[LayerScore], tolerance: float = DEFAULT_TOLERANCE) -> tuple[LayerScore, LayerScore]:
    """(recommended, best): the earliest layer within ``tolerance`` points of the best CV accuracy, and the best.

    At that layer, the pooling with the best CV accuracy; ties go to the simpler (un-normalised) probe.
    """
    best = max(scores, key=lambda s: (s.cv_accuracy, -s.layer, not s.normalize))
    close = [s for s in scores if s.cv_accuracy >= best.cv_accuracy - tolerance / 100 - 1e-12]
    earliest = min(s.layer for s in close)
    at_layer = [s for s in close if s.layer == earliest]
    return max(at_layer, key=lambda s: (s.cv_accuracy, not s.normalize)), best


def _score(x: np.ndarray, train: Dataset, x_test: np.ndarray | None, test: Dataset | None, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    model, cv = fit_probe_cv(x, train.y, Search(seed=seed, sample_weight=train.weights))
    seconds = time.perf_counter() - started
    figures: dict[str, Any] = {"cv_accuracy": cv.accuracy, "cv_spread": cv.spread, "C": cv.C, "seconds": seconds}
    if x_test is not None and test is not None:
        report = evaluate(test.y, model.predict(x_test), test.labels)
        figures.update(accuracy=report["accuracy"], macro_f1=report["macro_f1"])
    return figures


def sweep_layers(
    encoder: Encoder,
    train: Dataset,
    test: Dataset | None = None,
    *,
    layers: Sequence[int] | None = None,
    poolings: Sequence[str] = Pooling.values(),
    normalize: Sequence[bool] = (False, True),
    tolerance: float = DEFAULT_TOLERANCE,
    batch_size: int = 32,
    seed: int = 0,
    cache: EmbeddingCache | None = None,
    show_progress: bool = False,
    on_score: Callable[[int, int, LayerScore], None] | None = None,
) -> Sweep:
    """Probe every layer (default: 0 .. the block count) x pooling x normalisation; see the module docstring.

    ``on_score(done, total, score)`` is called after each probe (progress; the library never prints).
    """
    n_layers = int(encoder.model.config.num_hidden_layers)
    layers = list(range(n_layers + 1)) if layers is None else list(layers)
    started = time.perf_counter()
    vectors = layer_embeddings(
        encoder, train.texts, layers, poolings, batch_size, cache=cache, show_progress=show_progress
    )
    test_vectors = (
        layer_embeddings(encoder, test.texts, layers, poolings, batch_size, cache=cache, show_progress=show_progress)
        if test is not None
        else {}
    )
    embed_seconds = time.perf_counter() - started
    plan = [(key, l2) for key in vectors for l2 in normalize]
    scores: list[LayerScore] = []
    for (layer, pooling), l2 in plan:
        x = np.asarray(vectors[layer, pooling], dtype=np.float32)
        x_test = np.asarray(test_vectors[layer, pooling], dtype=np.float32) if test is not None else None
        if l2:
            x = l2_normalize(x)
            x_test = l2_normalize(x_test) if x_test is not None else None
        score = LayerScore(layer, pooling, l2, **_score(x, train, x_test, test, seed))
        scores.append(score)
        if on_score:
            on_score(len(scores), len(plan), score)
    recommended, best = recommend(scores, tolerance)
    return Sweep(
        encoder.name,
        n_layers,
        len(train),
        len(test) if test is not None else 0,
        tolerance,
        scores,
        recommended,
        best,
        round(embed_seconds, 2),
    )


def _pct(value: float | None) -> str:
    return "     -" if value is None else f"{100 * value:6.2f}"


def table_lines(sweep: Sweep) -> list[str]:
    """The sweep as an aligned text table, the recommendation marked, then one line saying what was chosen."""
    lines = [f"{'layer':>5}  {'pooling':<9}{'CV acc':>7} {'± std':>6}  {'test acc':>8} {'macro-F1':>8} {'time s':>7}"]
    for s in sorted(sweep.scores, key=lambda s: (s.layer, s.pooling, s.normalize)):
        mark = "  <- recommended" if s == sweep.recommended else ("  <- best" if s == sweep.best else "")
        lines.append(
            f"{s.layer:>5}  {s.name:<9}{_pct(s.cv_accuracy):>7} {100 * s.cv_spread:6.2f}  "
            f"{_pct(s.accuracy):>8} {_pct(s.macro_f1):>8} {s.seconds:7.2f}{mark}"
        )
    r, b = sweep.recommended, sweep.best
    lines.append(
        f"recommended: layer {r.layer} of {sweep.n_layers}, pooling {r.pooling}"
        f"{', L2-normalised' if r.normalize else ''} (CV {100 * r.cv_accuracy:.2f} vs best {100 * b.cv_accuracy:.2f} "
        f"at layer {b.layer}; tolerance {sweep.tolerance:g} points)"
    )
    return lines


def plot_sweep(sweep: Sweep, path: Path) -> None:
    """Accuracy against layer, one line per pooling (test accuracy when measured, else CV), as a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from .errors import ProbeError

        raise ProbeError(f"the layer plot needs matplotlib, which is not installed: {PLOT_INSTALL}") from None
    on_test = all(s.accuracy is not None for s in sweep.scores)
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for name in dict.fromkeys(s.name for s in sweep.scores):
        line = sorted((s for s in sweep.scores if s.name == name), key=lambda s: s.layer)
        values = [100 * ((s.accuracy or 0.0) if on_test else s.cv_accuracy) for s in line]
        ax.plot([s.layer for s in line], values, marker="o", linestyle="--" if "+l2" in name else "-", label=name)
    r = sweep.recommended
    ax.axvline(r.layer, color="grey", linewidth=0.8)
    ax.set_xlabel("layer (0: embeddings)")
    ax.set_ylabel(f"{'test' if on_test else 'CV'} accuracy (%)")
    ax.set_title(f"{Path(sweep.encoder).name}: recommended layer {r.layer} ({r.name})")
    ax.set_xticks(range(sweep.n_layers + 1))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def is_sweep_dir(path: str | Path) -> bool:
    """A directory `probe layers --out` wrote, recognised by the marker in its layers.json."""
    import json

    try:
        data = json.loads((Path(path) / RESULTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        Path(path).is_dir() and not Path(path).is_symlink() and isinstance(data, dict) and data.get("format") == FORMAT
    )
