"""Peak memory of `probe-runtime classify` as the input grows: it must stay flat (streaming windows).

For each size, writes a text file of that many lines (SST-2 phrases, cycled), runs
``probe-runtime classify MODEL FILE -o OUT`` in a child process, and records the child's peak RSS
(``wait4``'s ``ru_maxrss``), its RSS sampled over time from ``/proc``, the wall time and the rows/s.

    .venv/bin/python -m benchmarks.classify_memory --model artifacts/tiny-int8.onnx --sizes 100000 1000000

Any artifact works; memory is dominated by the runtime and one window of rows, not the input size.
Writes ``benchmarks/results/classify_memory.json`` and a table of it in ``classify_memory.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common.record import write_results
from benchmarks.data.texts import load_texts

RESULTS = Path(__file__).parent / "results" / "classify_memory.json"
RUNTIME = Path(sys.executable).with_name("probe-runtime")


def write_input(path: Path, lines: int, texts: list[str]) -> int:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(lines):
            f.write(texts[i % len(texts)] + "\n")
    return path.stat().st_size


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def measure(model: str, source: Path, threads: int | None) -> dict:
    """Run one classify in a child process; peak RSS from the kernel (wait4), samples from /proc."""
    out, log = source.with_suffix(".jsonl"), source.with_suffix(".log")
    cmd = [str(RUNTIME), "classify", model, str(source), "-o", str(out)]
    if threads:
        cmd += ["--threads", str(threads)]
    started = time.perf_counter()
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr)
        samples = []
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            rss = rss_mb(proc.pid)
            if rss is not None:
                samples.append((round(time.perf_counter() - started, 1), round(rss, 1)))
            time.sleep(0.5)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    messages = log.read_text(encoding="utf-8").strip()
    if proc.returncode != 0:
        raise SystemExit(f"classify failed ({proc.returncode}): {messages}")
    with open(out, encoding="utf-8") as f:
        rows = sum(1 for _ in f)
    out.unlink()
    return {
        "rows_written": rows,
        "seconds": round(seconds, 1),
        "rows_per_s": round(rows / seconds),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        "rss_mb_samples": samples[:: max(1, len(samples) // 40)],
        "summary": messages.splitlines()[-1] if messages else "",
    }


def markdown(result: dict) -> str:
    """The runs as a table: peak RSS must not grow with the input."""
    lines = [
        f"`probe-runtime classify` on {result['model']} ({result['model_mb']} MB), threads {result['threads']}:",
        "",
        "| lines | input MB | peak RSS MB | rows/s | seconds |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['lines']:,} | {r['input_mb']} | {r['peak_rss_mb']} | {r['rows_per_s']:,} | {r['seconds']} |"
        for r in result["runs"]
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="the .onnx artifact to run")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000], help="lines per input file")
    parser.add_argument("--texts", default="sst2", help="text set (benchmarks/data/texts.py) cycled to fill the files")
    parser.add_argument("--threads", type=int, help="onnxruntime threads for the child")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)

    texts = load_texts(args.texts, 50_000)
    runs = []
    with tempfile.TemporaryDirectory(prefix="classify-memory-") as tmp:
        for lines in args.sizes:
            source = Path(tmp) / f"{lines}.txt"
            size = write_input(source, lines, texts)
            print(f"{lines} lines ({size / 1e6:.1f} MB) …", file=sys.stderr)
            run = {"lines": lines, "input_mb": round(size / 1e6, 1), **measure(args.model, source, args.threads)}
            print(json.dumps({k: v for k, v in run.items() if k != "rss_mb_samples"}), file=sys.stderr)
            runs.append(run)
            source.unlink()
    result = {
        "model": args.model,
        "model_mb": round(os.path.getsize(args.model) / 1e6, 1),
        "texts": args.texts,
        "threads": args.threads,
        "runs": runs,
    }
    write_results(Path(args.out), result, markdown(result))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
