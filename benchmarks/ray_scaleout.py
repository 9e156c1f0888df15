"""The local `probe-runtime classify` against `classify --ray` with 1 and 2 actors, on one input file.

Each run is a child process on the same text file (SST-2 phrases cycled to ``--lines`` lines), in turn
(local, Ray 1 actor, Ray 2 actors, then again for ``--repeat``), so machine load hits all alike. Recorded:
wall seconds (a Ray run includes starting its local cluster and the actors loading the model), rows/s,
the driver's peak RSS (``wait4``) and each actor's peak RSS (``VmHWM`` of the Ray worker processes that
run the labeller, sampled from /proc while the run lasts): the figures a user sizes nodes with.

    .venv/bin/python -m benchmarks.ray_scaleout --model artifacts/NAME.onnx --lines 100000

Writes ``benchmarks/results/ray_scaleout.json`` and ``.md``, and the table into docs/benchmarks.md
between the markers of its section.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.classify_memory import write_input
from benchmarks.common.record import host_line, write_results, write_section
from benchmarks.data.texts import load_texts

RESULTS = Path(__file__).parent / "results" / "ray_scaleout.json"
DOC = Path(__file__).parents[1] / "docs" / "benchmarks.md"
SECTION = "ray_scaleout"  # docs/benchmarks.md's part this benchmark owns
RUNTIME = [sys.executable, "-m", "probe_runtime.cli"]  # this interpreter, so a checkout runs its own code
ACTOR_MARK = b"_Labeler"  # Ray names an actor's process after its class: ray::MapWorker(MapBatches(_Labeler))


def actor_peaks() -> dict[int, float]:
    """Peak RSS (MB, the kernel's high-water mark) of every live Ray actor process running the labeller."""
    peaks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if ACTOR_MARK not in (entry / "cmdline").read_bytes():
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks[int(entry.name)] = int(line.split()[1]) / 1024
        except OSError:
            continue
    return peaks


def measure(cmd: list[str], rows: int) -> dict:
    """Run ``cmd``; its wall time, rows/s, peak RSS, and the actors' peak RSS seen while it ran."""
    started = time.perf_counter()
    earlier = set(actor_peaks())  # an earlier run's actors may still be exiting: not this run's
    actors: dict[int, float] = {}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        for actor, peak in actor_peaks().items():
            if actor not in earlier:
                actors[actor] = max(peak, actors.get(actor, 0.0))
        time.sleep(0.5)
    seconds = time.perf_counter() - started
    err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {err[-2000:]}")
    summary = [line for line in err.splitlines() if line.startswith("read ")]
    return {
        "seconds": round(seconds, 1),
        "rows_per_s": round(rows / seconds),
        "driver_peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "actor_peak_rss_mb": sorted(round(v, 1) for v in actors.values()),
        "summary": summary[-1] if summary else "",
    }


def labels_written(directory: Path) -> list:
    """The labels of the run just finished, in input order (its JSONL file, or its Parquet part files)."""
    import pyarrow.parquet as pq

    local = directory / "local.jsonl"
    if local.exists():
        return [json.loads(line)["label"] for line in local.read_text(encoding="utf-8").splitlines()]
    parts = sorted(directory.glob("ray*/part-*.parquet"))
    return [label for part in parts for label in pq.read_table(part, columns=["label"])["label"].to_pylist()]


def markdown(result: dict) -> str:
    lines = [
        f"{result['lines']:,} lines ({result['texts']}) through {result['model']} ({result['model_mb']} MB), "
        f"{result['repeat']} run(s) each, interleaved; Ray runs start their own local cluster (included):",
        "",
        "| run | seconds | rows/s | driver peak RSS MB | peak RSS MB per actor | labels equal to the local run's |",
        "|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        actors = ", ".join(str(v) for v in run["actor_peak_rss_mb"]) or "–"
        lines.append(
            f"| {run['name']} | {run['seconds']} | {run['rows_per_s']:,} | {run['driver_peak_rss_mb']} | {actors} "
            f"| {run['labels_equal_to_local']:,} / {result['lines']:,} |"
        )
    return "\n".join(lines) + "\n"


def update_doc(text: str) -> None:
    """Replace this benchmark's section of docs/benchmarks.md (between its markers), or append it."""
    write_section(DOC, SECTION, text, heading="## Scale-out on Ray (`benchmarks/ray_scaleout.py`)")


def commands(model: str, source: Path, out: Path, actors: list[int]) -> list[tuple[str, list[str]]]:
    local = ("local CLI (all cores)", [*RUNTIME, "classify", model, str(source), "-o", str(out / "local.jsonl")])
    ray = [
        (
            f"Ray, {n} actor{'s' if n > 1 else ''} × 1 thread",
            [*RUNTIME, "classify", model, str(source), "--ray", "--actors", str(n), "--out", str(out / f"ray{n}")],
        )
        for n in actors
    ]
    return [local, *ray]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="the .onnx artifact to run")
    parser.add_argument("--lines", type=int, default=100_000, help="lines of the input file")
    parser.add_argument("--texts", default="sst2", help="text set (benchmarks/data/texts.py) cycled to fill the file")
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2], help="actor counts of the Ray runs")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of (local, Ray…), interleaved")
    parser.add_argument("--note", default="", help="a sentence on the conditions (a shared machine, say)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args(argv)

    runs: dict[str, list[dict]] = {}
    local_labels: list = []
    with tempfile.TemporaryDirectory(prefix="ray-scaleout-") as tmp:
        source = Path(tmp) / "input.txt"
        write_input(source, args.lines, load_texts(args.texts, 50_000))
        for _ in range(args.repeat):
            for name, cmd in commands(args.model, source, Path(tmp), args.actors):
                print(f"{name} …", file=sys.stderr)
                run = measure(cmd, args.lines)
                answers = labels_written(Path(tmp))
                local_labels = local_labels or answers  # the first command is the local CLI
                run["labels_equal_to_local"] = sum(a == b for a, b in zip(answers, local_labels))
                runs.setdefault(name, []).append(run)
                print(run, file=sys.stderr)
                for leftover in Path(tmp).iterdir():
                    if leftover != source:
                        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    best = [{"name": name, **min(rs, key=lambda r: r["seconds"]), "all": rs} for name, rs in runs.items()]
    result = {
        "model": Path(args.model).name,
        "model_mb": round(os.path.getsize(args.model) / 1e6, 1),
        "lines": args.lines,
        "texts": args.texts,
        "repeat": args.repeat,
        "note": args.note,
        "runs": best,
    }
    table = markdown(result) + (f"\n{args.note}\n" if args.note else "")
    record = write_results(Path(args.out), result, table)
    if not args.no_doc:
        update_doc(table + "\n" + host_line(record["host"]))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
