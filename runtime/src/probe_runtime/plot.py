"""`probe-runtime bench --plot`: the latency and throughput of a `BenchResult` as one PNG.

matplotlib is an optional extra of the runtime (``pip install 'probe-runtime[plot]'``), imported here
only when a plot is drawn, never when ``probe_runtime`` is imported: the runtime's own dependencies
stay onnxruntime, tokenizers and numpy (tests/runtime/test_isolation.py proves it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .atomic import atomic_path
from .bench import BenchResult
from .errors import UsageError

__all__ = ["INSTALL", "SIZE_PX", "bench_png"]

INSTALL = "pip install 'probe-runtime[plot]'  (or: pip install matplotlib)"
_DPI = 100
SIZE_PX = (960, 420)  # two panels side by side


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise UsageError(f"--plot needs matplotlib, which is not installed: {INSTALL}") from None
    matplotlib.use("Agg")  # files only: no display needed, none opened
    import matplotlib.pyplot as plt

    return plt


def check_plotting() -> None:
    """Refuse at once (before minutes of measuring) when matplotlib is missing."""
    _pyplot()


def bench_png(result: BenchResult, source: str, out: str | Path) -> Path:
    """Left: one-text latency percentiles; right: texts/s by batch size (median, min-max bars). Atomic write."""
    plt = _pyplot()
    figure, (latency, rate) = plt.subplots(1, 2, figsize=(SIZE_PX[0] / _DPI, SIZE_PX[1] / _DPI))
    names = ("p50", "p95", "p99")
    latency.bar(names, [result.latency_ms[n] for n in names], color="tab:blue")
    latency.set_ylabel("ms per text (one text per call)")
    latency.set_title(f"latency ({int(result.latency_ms['calls'])} calls)")
    sizes = [str(t.batch_size) for t in result.throughput]
    medians = [t.texts_per_s for t in result.throughput]
    spread = [
        [m - t.min for m, t in zip(medians, result.throughput)],
        [t.max - m for m, t in zip(medians, result.throughput)],
    ]
    rate.bar(sizes, medians, yerr=spread, capsize=4, color="tab:green")
    rate.set_xlabel("batch size")
    rate.set_ylabel("texts/s (median, min-max)")
    rate.set_title("throughput")
    threads = result.threads or "all cores"
    figure.suptitle(
        f"{Path(result.model).name} ({result.quantization}, threads: {threads}) on {result.texts} texts from {source}"
    )
    figure.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        figure.savefig(f, format="png", dpi=_DPI)
    plt.close(figure)
    return out
