"""How fast is this artifact on this machine, with these texts? (the measuring behind `probe-runtime bench`)

Latency is measured one text at a time (what an API call sees); throughput over the whole text list
at several batch sizes (what a file job sees). Every figure is a median over repetitions with its
min-max, after a warm-up, because shared machines are noisy. Nothing here prints: `benchmark` returns
a `BenchResult` that `probe_runtime.cli.bench` formats.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .classifier import DEFAULT_MAX_TOKENS, Classifier
from .errors import InputError
from .files import read_rows
from .load_options import LoadOptions
from .samples import sample_texts

__all__ = [
    "DEFAULT_BATCH_SIZES",
    "BenchResult",
    "Throughput",
    "benchmark",
    "latency_ms",
    "read_texts",
    "sample_texts",
    "throughput",
]

DEFAULT_BATCH_SIZES = (1, 8, 32, 128)


@dataclass(frozen=True)
class Throughput:
    """Texts per second over the whole list at one batch size: median and min-max over repetitions."""

    batch_size: int
    texts_per_s: float
    min: float
    max: float


@dataclass(frozen=True)
class BenchResult:
    """One `benchmark` run: what was measured, and every figure (the CLI prints it as a table or JSON)."""

    model: str
    quantization: str
    threads: int | None
    spinning: bool
    texts: int
    tokens: dict[str, float]
    load_s: float
    latency_ms: dict[str, float]
    throughput: list[Throughput]


def read_texts(path: str, text_column: str) -> list[str]:
    """Non-empty texts of a text/CSV/TSV/JSONL file (the formats `classify` reads)."""
    texts = [row.text for row in read_rows(path, text_column) if row.text.strip()]
    if not texts:
        raise InputError(f"{path} holds no non-empty texts to benchmark; pass a file with one text per line")
    return texts


def _token_stats(clf: Classifier, texts: Sequence[str]) -> dict[str, float]:
    lengths = np.array([len(e.ids) for e in clf.encoder.encode(texts)])
    return {
        "mean": round(float(lengths.mean()), 1),
        "p50": float(np.percentile(lengths, 50)),
        "p95": float(np.percentile(lengths, 95)),
        "max": int(lengths.max()),
    }


def latency_ms(clf: Classifier, texts: Sequence[str], repeat: int) -> dict[str, float]:
    """Percentiles of single-text calls (each text ``repeat`` times, interleaved)."""
    samples = []
    for _ in range(repeat):
        for text in texts:
            start = time.perf_counter()
            clf.predict_proba(text)
            samples.append(time.perf_counter() - start)
    ms = 1e3 * np.array(samples)
    return {f"p{q}": round(float(np.percentile(ms, q)), 3) for q in (50, 95, 99)} | {"calls": len(samples)}


def throughput(clf: Classifier, texts: list[str], batch_size: int, repeat: int, max_tokens: int) -> Throughput:
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        clf.predict_proba(texts, batch_size=batch_size, max_tokens=max_tokens)
        rates.append(len(texts) / (time.perf_counter() - start))
    return Throughput(batch_size, round(statistics.median(rates), 1), round(min(rates), 1), round(max(rates), 1))


def benchmark(
    model: str,
    texts: list[str],
    load: LoadOptions | None = None,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    repeat: int = 3,
    latency_texts: int = 200,
    warmup: int = 20,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> BenchResult:
    """Load ``model`` with ``load`` (`Classifier.load`'s options; None: the defaults) and measure it on ``texts``."""
    load = load or LoadOptions()
    start = time.perf_counter()
    clf = Classifier.load(model, options=load)
    load_s = time.perf_counter() - start
    for text in texts[:warmup]:  # first runs allocate buffers and pick kernels
        clf.predict_proba(text)
    clf.predict_proba(texts[: max(warmup, 1) * 8])
    latency = latency_ms(clf, texts[:latency_texts], repeat)
    rates = [throughput(clf, texts, size, repeat, max_tokens) for size in batch_sizes]
    return BenchResult(
        model=model,
        quantization=clf.manifest.quantization,
        threads=load.threads,
        spinning=load.spinning,
        texts=len(texts),
        tokens=_token_stats(clf, texts),
        load_s=round(load_s, 3),
        latency_ms=latency,
        throughput=rates,
    )
