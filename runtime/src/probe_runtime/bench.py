"""`probe-runtime bench`: how fast is this artifact on this machine, with these texts?

Latency is measured one text at a time (what an API call sees); throughput over the whole text list
at several batch sizes (what a file job sees). Every figure is a median over repetitions with its
min-max, after a warm-up, because shared machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .classifier import DEFAULT_MAX_TOKENS, Classifier
from .errors import InputError
from .files import read_rows

__all__ = ["BenchResult", "Throughput", "add_command", "benchmark", "sample_texts"]

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
    model: str
    quantization: str
    threads: int | None
    texts: int
    tokens: dict[str, float]
    load_s: float
    latency_ms: dict[str, float]
    throughput: list[Throughput]


def sample_texts() -> list[str]:
    """The built-in sample shipped with the runtime (short, varied English texts)."""
    raw = resources.files("probe_runtime").joinpath("sample_texts.txt").read_text(encoding="utf-8")
    return [line.strip() for line in raw.splitlines() if line.strip() and not line.startswith("# ")]


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


def _latency_ms(clf: Classifier, texts: Sequence[str], repeat: int) -> dict[str, float]:
    """Percentiles of single-text calls (each text ``repeat`` times, interleaved)."""
    samples = []
    for _ in range(repeat):
        for text in texts:
            start = time.perf_counter()
            clf.predict_proba(text)
            samples.append(time.perf_counter() - start)
    ms = 1e3 * np.array(samples)
    return {f"p{q}": round(float(np.percentile(ms, q)), 3) for q in (50, 95, 99)} | {"calls": len(samples)}


def _throughput(clf: Classifier, texts: list[str], batch_size: int, repeat: int, max_tokens: int) -> Throughput:
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        clf.predict_proba(texts, batch_size=batch_size, max_tokens=max_tokens)
        rates.append(len(texts) / (time.perf_counter() - start))
    return Throughput(batch_size, round(statistics.median(rates), 1), round(min(rates), 1), round(max(rates), 1))


def benchmark(
    model: str,
    texts: list[str],
    threads: int | None = None,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    repeat: int = 3,
    latency_texts: int = 200,
    warmup: int = 20,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> BenchResult:
    """Load ``model`` and measure it on ``texts``; nothing is printed."""
    start = time.perf_counter()
    clf = Classifier.load(model, threads=threads)
    load_s = time.perf_counter() - start
    for text in texts[:warmup]:  # first runs allocate buffers and pick kernels
        clf.predict_proba(text)
    clf.predict_proba(texts[: max(warmup, 1) * 8])
    latency = _latency_ms(clf, texts[:latency_texts], repeat)
    throughput = [_throughput(clf, texts, size, repeat, max_tokens) for size in batch_sizes]
    return BenchResult(
        model=model,
        quantization=clf.manifest.quantization,
        threads=threads,
        texts=len(texts),
        tokens=_token_stats(clf, texts),
        load_s=round(load_s, 3),
        latency_ms=latency,
        throughput=throughput,
    )


def _table(result: BenchResult, source: str) -> str:
    tok = result.tokens
    lat = result.latency_ms
    lines = [
        f"{result.model}  ({result.quantization}, threads: {result.threads or 'all cores'}, loaded in "
        f"{result.load_s:.2f} s)",
        f"texts: {result.texts} from {source}; tokens per text mean {tok['mean']}, p50 {tok['p50']:g}, "
        f"p95 {tok['p95']:g}, max {tok['max']}",
        f"latency, one text per call ({lat['calls']} calls): p50 {lat['p50']:.2f} ms   p95 {lat['p95']:.2f} ms   "
        f"p99 {lat['p99']:.2f} ms",
        "throughput (median of repetitions, min-max):",
        f"  {'batch size':>10}  {'texts/s':>9}  {'min-max':>17}",
    ]
    for row in result.throughput:
        lines.append(f"  {row.batch_size:>10}  {row.texts_per_s:>9,.0f}  {row.min:>8,.0f}-{row.max:<8,.0f}")
    return "\n".join(lines)


def _batch_sizes(value: str) -> list[int]:
    try:
        sizes = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 1,8,32, got {value!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be positive integers, got {value!r}")
    return sizes


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return number


def cmd_bench(args: argparse.Namespace) -> int:
    texts = read_texts(args.texts, args.text_column) if args.texts else sample_texts()
    source = args.texts or "the built-in sample"
    if not Path(args.model).is_file():
        raise InputError(f"model file not found: {args.model}")
    print(f"benchmarking {args.model} on {len(texts)} texts ...", file=sys.stderr)
    result = benchmark(
        args.model,
        texts,
        threads=args.threads,
        batch_sizes=args.batch_sizes,
        repeat=args.repeat,
        latency_texts=args.latency_texts,
        warmup=args.warmup,
        max_tokens=args.max_tokens,
    )
    if args.json:
        print(json.dumps(asdict(result) | {"source": source}, indent=2))
    else:
        print(_table(result, source))
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="measure latency and throughput of an artifact",
        description="Measure batch-1 latency percentiles (p50/p95/p99) and throughput (texts/s) at several "
        "batch sizes, on your texts or a built-in sample. Medians over repetitions, after a warm-up.",
    )
    p.add_argument("model", help="the .onnx artifact")
    p.add_argument("--texts", help="text file (one per line), .csv, .tsv or .jsonl (default: built-in sample)")
    p.add_argument("--text-column", default="text", help="column/field holding the text (default: text)")
    p.add_argument(
        "--threads", type=_positive, help="CPU threads; batches run concurrently, one thread each (default: all cores)"
    )
    p.add_argument(
        "--batch-sizes",
        type=_batch_sizes,
        default=list(DEFAULT_BATCH_SIZES),
        help="comma-separated batch sizes for throughput (default: 1,8,32,128)",
    )
    p.add_argument("--max-tokens", type=_positive, default=DEFAULT_MAX_TOKENS, help="padded-token budget per batch")
    p.add_argument("--repeat", type=_positive, default=3, help="repetitions per measurement (default: 3)")
    p.add_argument("--warmup", type=int, default=20, help="texts run before measuring (default: 20)")
    p.add_argument("--latency-texts", type=_positive, default=200, help="texts timed one by one (default: 200)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_bench)
