"""Does onnxruntime's thread spinning pay for the CPU it burns? (``Classifier.load(spinning=...)``)

    .venv/bin/python -m benchmarks.spinning artifacts/bench/pi-default.onnx --reps 3

An app that classifies one request at a time sits idle between calls. onnxruntime's pool threads
(a session of two or more threads: the runtime's wide session, used for a lone text of 64+ tokens)
busy-wait for work when spinning is allowed. Per setting, in a fresh process each (settings
alternate, the order rotating per repetition, so load from elsewhere hits both alike):

- **idle CPU**: process CPU seconds over ``--idle`` seconds of sleep right after one call;
- **at a request rate**: single-text calls ``--rate`` times a second for ``--idle`` seconds:
  process CPU seconds per wall second (1.0 = one core busy) and the calls' p50 latency;
- **back to back**: p50 of single-text calls with no pause (what the harness's batch-1 p50 measures).

Short texts (SST-2 phrases) run on the one-thread session, long ones (tweets of 64+ tokens) on the
wide one. Writes ``results/spinning.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _measure(model: str, spinning: bool, texts: list[str], idle: float, rate: float, calls: int) -> dict:
    """In this process: the three measurements of the module doc for one setting and one text set."""
    import numpy as np
    from probe_runtime import Classifier

    clf = Classifier.load(model, spinning=spinning)
    for text in texts[:20]:
        clf.predict_proba(text)
    clf.predict_proba(texts[0])
    cpu0, wall0 = time.process_time(), time.perf_counter()
    time.sleep(idle)
    idle_cpu = time.process_time() - cpu0
    idle_wall = time.perf_counter() - wall0
    gap = 1.0 / rate
    latencies = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    i = 0
    while time.perf_counter() - wall0 < idle:
        t0 = time.perf_counter()
        clf.predict_proba(texts[i % len(texts)])
        latencies.append(time.perf_counter() - t0)
        i += 1
        time.sleep(max(0.0, gap - (time.perf_counter() - t0)))
    paced_cpu, paced_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    back = []
    for j in range(calls):
        t0 = time.perf_counter()
        clf.predict_proba(texts[j % len(texts)])
        back.append(time.perf_counter() - t0)
    return {
        "idle_cpu_per_s": idle_cpu / idle_wall,
        "paced_cpu_per_s": paced_cpu / paced_wall,
        "paced_calls": len(latencies),
        "paced_p50_ms": 1e3 * float(np.percentile(latencies, 50)),
        "back_to_back_p50_ms": 1e3 * float(np.percentile(back, 50)),
    }


def _texts(name: str, long_only: bool, model: str) -> list[str]:
    from probe_runtime import Classifier

    from benchmarks.data.texts import load_texts

    texts = load_texts(name, 2000)
    if not long_only:
        return texts[:300]
    encoder = Classifier.load(model, threads=1).encoder
    return [t for t, e in zip(texts, encoder.encode(texts)) if len(e.ids) >= 64][:300]


def child(argv: list[str]) -> None:
    """``--child``: one setting, both text sets, one JSON line on stdout."""
    model, spinning, idle, rate, calls = argv[0], argv[1] == "1", float(argv[2]), float(argv[3]), int(argv[4])
    out = {}
    for name, source, long_only in (("short (SST-2)", "sst2", False), ("long (tweets, 64+ tokens)", "tweets", True)):
        out[name] = _measure(model, spinning, _texts(source, long_only, model), idle, rate, calls)
    print(json.dumps(out))


def markdown(record: dict) -> str:
    lines = [
        f"Model {record['model']}, all cores ({record['threads']}), {record['reps']} fresh processes per setting, "
        f"settings alternating; {record['idle']} s idle, requests at {record['rate']:g}/s for {record['idle']} s, "
        f"{record['calls']} back-to-back calls. Median (min–max) over repetitions. Load average "
        f"{record['load_average_start']} at start (2 cores: above about 1, other jobs shared them); the settings "
        "alternate, so compare them rather than absolute figures.",
        "",
        f"Reproduce: `{record['command']}`",
        "",
        "| texts | spinning | idle CPU (cores) after a call | CPU (cores) at the request rate | p50 ms at the rate "
        "| p50 ms back to back |",
        "|---|---|---|---|---|---|",
    ]
    for texts, by_setting in record["results"].items():
        for setting, runs in by_setting.items():
            cells = []
            for key, fmt in (("idle_cpu_per_s", ".3f"), ("paced_cpu_per_s", ".3f"), ("paced_p50_ms", ".2f"),
                             ("back_to_back_p50_ms", ".2f")):  # fmt: skip
                values = [r[key] for r in runs]
                cells.append(f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})")
            lines.append(f"| {texts} | {setting} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        child(argv[1:])
        return
    import os

    from benchmarks.common.record import write_results

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle, and of paced requests")
    parser.add_argument("--rate", type=float, default=20.0, help="single-text requests per second")
    parser.add_argument("--calls", type=int, default=300, help="back-to-back single-text calls")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "spinning.json")
    args = parser.parse_args(argv)
    settings = {"on": "1", "off": "0"}
    results: dict[str, dict[str, list[dict]]] = {}
    load_start = [round(x, 2) for x in os.getloadavg()]
    for rep in range(args.reps):
        order = list(settings) if rep % 2 == 0 else list(settings)[::-1]
        for setting in order:
            cmd = [sys.executable, "-m", "benchmarks.spinning", "--child", args.model, settings[setting],
                   str(args.idle), str(args.rate), str(args.calls)]  # fmt: skip
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            for texts, figures in json.loads(proc.stdout.strip().splitlines()[-1]).items():
                results.setdefault(texts, {}).setdefault(setting, []).append(figures)
            print(f"rep {rep + 1} spinning {setting}: {proc.stdout.strip()}", file=sys.stderr, flush=True)
    record = {
        "model": Path(args.model).name,
        "threads": os.cpu_count(),
        "reps": args.reps,
        "idle": args.idle,
        "rate": args.rate,
        "calls": args.calls,
        "command": "python -m benchmarks.spinning " + shlex.join(argv),
        "load_average_start": load_start,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "results": results,
    }
    write_results(args.out, record, markdown(record))
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
