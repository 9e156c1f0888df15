"""Where does probe-runtime's time go? Tokenization, batching/padding, each graph op, Python overhead.

    .venv/bin/python -m benchmarks.profile_runtime artifacts/bench/pi.onnx --threads 1 --n 2000

Splits one pass over the texts into tokenization, batch planning + padding, ``session.run`` and
what is left (Python), in CPU seconds (steadier than wall time on a shared machine), then prints
onnxruntime's own per-op-type profile of the same pass and a cProfile of batch-1 calls.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path

import onnxruntime as ort
from probe_runtime import Classifier
from probe_runtime.artifact import OUTPUT_NAME
from probe_runtime.classifier import DEFAULT_BATCH_SIZE, DEFAULT_MAX_TOKENS, DISABLED_FUSIONS, session_options

from benchmarks.data.texts import load_texts


def split_pass(clf: Classifier, texts: list[str], batch_size: int, max_tokens: int) -> dict[str, float]:
    """CPU seconds of each stage of ``predict_proba`` over all texts, done by hand stage by stage."""
    cpu = time.process_time
    t0 = cpu()
    encodings = clf.encoder.encode(texts)
    t1 = cpu()
    batches = list(clf.encoder.batches(encodings, batch_size, max_tokens))
    t2 = cpu()
    for batch in batches:
        clf.session.run([OUTPUT_NAME], batch.feeds)
    t3 = cpu()
    clf.predict_proba(texts, batch_size=batch_size, max_tokens=max_tokens)
    t4 = cpu()
    stages = {"tokenize": t1 - t0, "batch+pad": t2 - t1, "session.run": t3 - t2}
    stages["python/other"] = max(0.0, (t4 - t3) - sum(stages.values()))
    return stages | {"total predict_proba": t4 - t3, "batches": len(batches)}


def op_profile(path: str, threads: int, clf: Classifier, texts: list[str], bs: int, mt: int) -> dict[str, float]:
    """onnxruntime's profiler, summed per op type (microseconds of kernel time)."""
    options = session_options(threads)  # the runtime's own settings, plus the profiler
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "ort")
    session = ort.InferenceSession(
        path, options, providers=["CPUExecutionProvider"], disabled_optimizers=DISABLED_FUSIONS
    )
    for batch in clf.encoder.batches(clf.encoder.encode(texts), bs, mt):
        session.run([OUTPUT_NAME], batch.feeds)
    events = json.loads(Path(session.end_profiling()).read_text())
    totals: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            totals[event["args"]["op_name"]] += event["dur"]
    return dict(totals.most_common())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--texts", default="sst2")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS)
    args = parser.parse_args(argv)
    texts = load_texts(args.texts, args.n)
    clf = Classifier.load(args.model, threads=args.threads)
    clf.predict_proba(texts[:200])

    stages = split_pass(clf, texts, args.batch_size, args.max_tokens)
    total = stages["total predict_proba"]
    print(
        f"{len(texts)} texts, {stages['batches']} batches, {args.threads} thread(s): "
        f"{len(texts) / total:,.0f} texts per CPU-s"
    )
    for name in ("tokenize", "batch+pad", "session.run", "python/other"):
        print(f"  {name:14s} {stages[name] * 1e3:9.1f} ms CPU  {100 * stages[name] / total:5.1f} %")

    ops = op_profile(args.model, args.threads, clf, texts, args.batch_size, args.max_tokens)
    kernel = sum(ops.values())
    print("onnxruntime kernel time per op type (one pass):")
    for name, us in ops.items():
        if us / kernel >= 0.005:
            print(f"  {name:28s} {us / 1e3:9.1f} ms  {100 * us / kernel:5.1f} %")

    profiler = cProfile.Profile()
    profiler.enable()
    for text in texts[:300]:
        clf.predict_proba(text)
    profiler.disable()
    print("cProfile of 300 single-text calls (top 8 by own time):")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(8)


if __name__ == "__main__":
    main()
