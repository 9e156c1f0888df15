"""One text per call, before and after a runtime change: CPU time per call and its parts, interleaved.

    .venv/bin/python -m benchmarks.single_text artifacts/bench/pi-default.onnx --before /work/main/runtime/src

Each repetition runs one fresh process per runtime (``--before``: another checkout's ``runtime/src``, e.g. the
main branch; ``after``: this tree's), alternating which goes first. A process makes ``--texts`` single-text
``predict_proba`` calls over SST-2 phrases ``--passes`` times and reports the median CPU microseconds
per call (``time.process_time``: every thread of the process, steadier than wall time on a shared
machine), the wall p50, and the same for a bare ``session.run`` on feeds built beforehand, so
``predict_proba - session.run`` is what the Python path (checks, tokenizing, padding, post-processing) costs.
Writes ``results/single_text.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def child(model: str, texts_file: str, passes: int) -> dict[str, float]:
    """In this process (whichever probe_runtime is first on the path): the figures of the module doc. The texts
    come in a JSON file the parent wrote, so the child imports nothing of this tree but the runtime under test
    (the data reader is the training library's, which need not match the other checkout's runtime)."""
    import numpy as np
    from probe_runtime import Classifier
    from probe_runtime.artifact import OUTPUT_NAME

    texts = json.loads(Path(texts_file).read_text(encoding="utf-8"))
    clf = Classifier.load(model)
    encoder = clf.encoder
    feeds = [encoder._pad(encoder.encode([t])) for t in texts]
    for text in texts[:50]:
        clf.predict_proba(text)
    calls = {
        "predict_proba": lambda i: clf.predict_proba(texts[i]),
        "classify": lambda i: clf.classify(texts[i]),
        "session.run": lambda i: clf.session.run([OUTPUT_NAME], feeds[i]),
    }
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    wall: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for p in range(passes):
        for i in range(len(texts)):
            shift = (p + i) % len(names)
            for name in names[shift:] + names[:shift]:  # every text by every call in turn
                w0, c0 = time.perf_counter(), time.process_time()
                calls[name](i)
                cpu[name].append(time.process_time() - c0)
                wall[name].append(time.perf_counter() - w0)
    out = {}
    for name in names:
        out[f"{name} cpu_us"] = 1e6 * float(np.median(cpu[name]))
        out[f"{name} p50_ms"] = 1e3 * float(np.median(wall[name]))
    out["python_us"] = out["predict_proba cpu_us"] - out["session.run cpu_us"]
    return out


def markdown(record: dict) -> str:
    lines = [
        f"Model {record['model']}, {record['texts']} SST-2 phrases × {record['passes']} passes per process, "
        f"{record['reps']} processes per runtime, alternating. Median over processes (min–max) of each process's "
        "median per call. The machine was shared (load average "
        f"{record['load_average_start']} at start, {record['load_average_end']} at end): compare the columns, "
        "not absolute figures.",
        "",
        f"Reproduce: `{record['command']}`",
        "",
        "| runtime | predict_proba CPU µs | classify CPU µs | session.run alone CPU µs "
        "| Python path (predict_proba − session.run) µs | predict_proba wall p50 ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, runs in record["runs"].items():
        cells = []
        for key, fmt in (("predict_proba cpu_us", ".0f"), ("classify cpu_us", ".0f"), ("session.run cpu_us", ".0f"),
                         ("python_us", ".0f"), ("predict_proba p50_ms", ".3f")):  # fmt: skip
            values = [r[key] for r in runs]
            cells.append(f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        print(json.dumps(child(argv[1], argv[2], int(argv[3]))))
        return
    from benchmarks.common.record import write_results
    from benchmarks.data.texts import load_texts

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--before", type=Path, required=True, help="runtime/src of the checkout to compare with")
    parser.add_argument("--before-name", default="before")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--texts", type=int, default=300)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "single_text.json")
    args = parser.parse_args(argv)
    paths = {args.before_name: args.before.resolve(), "after (this tree)": ROOT / "runtime" / "src"}
    runs: dict[str, list[dict]] = {name: [] for name in paths}
    scratch = tempfile.TemporaryDirectory(prefix="single_text-")  # removed when the runs are done (or at exit)
    texts_file = Path(scratch.name) / "texts.json"
    texts_file.write_text(json.dumps(load_texts("sst2", args.texts)), encoding="utf-8")
    load_start = [round(x, 2) for x in os.getloadavg()]
    for rep in range(args.reps):
        order = list(paths) if rep % 2 == 0 else list(paths)[::-1]
        for name in order:
            rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and "runtime/src" not in p]
            env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(paths[name]), str(ROOT), *rest]))
            cmd = [
                sys.executable,
                "-m",
                "benchmarks.single_text",
                "--child",
                args.model,
                str(texts_file),
                str(args.passes),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env, cwd=ROOT)
            runs[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"rep {rep + 1} {name}: {runs[name][-1]}", file=sys.stderr, flush=True)
    scratch.cleanup()
    record = {
        "model": Path(args.model).name,
        "texts": args.texts,
        "passes": args.passes,
        "reps": args.reps,
        "command": "python -m benchmarks.single_text " + shlex.join(argv),
        "load_average_start": load_start,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "runs": runs,
    }
    write_results(args.out, record, markdown(record))
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
