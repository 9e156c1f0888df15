"""`probe-runtime bench`: the arguments, and the table or JSON of `probe_runtime.bench.benchmark`'s result."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from ..bench import DEFAULT_BATCH_SIZES, BenchResult, benchmark, read_texts, sample_texts
from ..classifier import DEFAULT_MAX_TOKENS
from ..cli_support import add_text_column_option, positive_int
from ..errors import InputError
from ..guard import output_lock, refuse_existing_output, refuse_output_over_inputs, refuse_unwritable_output
from ..loader import check_providers
from .options import add_load_options, load_options

__all__ = ["add_command", "cmd_bench", "is_png_file", "table"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def table(result: BenchResult, source: str) -> str:
    """The human-readable report: one line per figure, a row per batch size."""
    tok = result.tokens
    lat = result.latency_ms
    lines = [
        f"{result.model}  ({result.quantization}, threads: {result.threads or 'all cores'}, "
        f"spinning {'on' if result.spinning else 'off'}, loaded in "
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


def cmd_bench(args: argparse.Namespace) -> int:
    texts = read_texts(args.texts, args.text_column) if args.texts else sample_texts()
    source = args.texts or "the built-in sample"
    if not Path(args.model).is_file():
        raise InputError(f"model file not found: {args.model}")
    load = load_options(args)
    check_providers(load.providers)  # before the line below: a mistake is the only line the user sees
    if args.plot:
        _guard_plot(args)
    print(f"benchmarking {args.model} on {len(texts)} texts ...", file=sys.stderr)
    result = benchmark(
        args.model,
        texts,
        load,
        batch_sizes=args.batch_sizes,
        repeat=args.repeat,
        latency_texts=args.latency_texts,
        warmup=args.warmup,
        max_tokens=args.max_tokens,
    )
    if args.json:
        print(json.dumps(asdict(result) | {"source": source}, indent=2))
    else:
        print(table(result, source))
    if args.plot:
        from ..plot import bench_png

        with output_lock(args.plot, flag="--plot"):
            bench_png(result, source, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def is_png_file(path: Path) -> bool:
    """A PNG (by its signature): the only kind of file --plot replaces, and only with --overwrite."""
    try:
        with open(path, "rb") as f:
            return path.is_file() and not path.is_symlink() and f.read(8) == PNG_SIGNATURE
    except OSError:
        return False


def _guard_plot(args: argparse.Namespace) -> None:
    """--plot is an output like any other: not over an input, writable, and never a file that is not a PNG."""
    from ..plot import check_plotting

    check_plotting()  # matplotlib missing: the install command, before minutes of measuring
    inputs = {"model": args.model, "--texts file": args.texts}
    refuse_output_over_inputs(args.plot, inputs, flag="--plot")
    refuse_unwritable_output(args.plot, flag="--plot")
    refuse_existing_output(
        args.plot, overwrite=args.overwrite, is_own_kind=is_png_file, kind="PNG image", flag="--plot"
    )


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="measure latency and throughput of an artifact",
        description="Measure batch-1 latency percentiles (p50/p95/p99) and throughput (texts/s) at several "
        "batch sizes, on your texts or a built-in sample. Medians over repetitions, after a warm-up.",
    )
    p.add_argument("model", help="the .onnx artifact")
    p.add_argument("--texts", help="text file (one per line), .csv, .tsv or .jsonl (default: built-in sample)")
    add_text_column_option(p)
    add_load_options(p, threads_help="CPU threads; batches run concurrently, one thread each (default: all cores)")
    p.add_argument(
        "--batch-sizes",
        type=_batch_sizes,
        default=list(DEFAULT_BATCH_SIZES),
        help="comma-separated batch sizes for throughput (default: 1,8,32,128)",
    )
    p.add_argument("--max-tokens", type=positive_int, default=DEFAULT_MAX_TOKENS, help="padded-token budget per batch")
    p.add_argument("--repeat", type=positive_int, default=3, help="repetitions per measurement (default: 3)")
    p.add_argument("--warmup", type=int, default=20, help="texts run before measuring (default: 20)")
    p.add_argument("--latency-texts", type=positive_int, default=200, help="texts timed one by one (default: 200)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also draw latency and throughput as a PNG (needs the plot extra: pip install 'probe-runtime[plot]')",
    )
    p.add_argument("--overwrite", action="store_true", help="replace --plot if it is a PNG (never any other file)")
    p.set_defaults(func=cmd_bench)
