"""The runtime-side speed levers, each measured against its alternative in the same run.

    .venv/bin/python -m research.runtime_levers.study artifacts/bench/pi.onnx      # ~5 min on 2 idle cores

1. batches concurrently, one onnxruntime thread each (the runtime) vs one batch at a time on a session
   with N intra-op threads, and vs both at once; N = 2..4 batches in flight (texts/s, wall);
2. a lone batch (one long text, a few short ones) on one vs two intra-op threads (p50 ms);
3. the padded-token budget per batch (texts per CPU-second, 1 thread);
4. denormals flushed to zero or not (texts per CPU-second, 1 thread; each in a fresh process, because
   onnxruntime applies the setting from the first session of a process);
5. the exported opset-20 Gelu (bias folded into the int8 matmul) vs the same graph with BiasGelu.

Writes research/runtime_levers/runtime_levers.{json,md}.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper
from probe_runtime import Classifier
from probe_runtime.artifact import OUTPUT_NAME, manifest_from_metadata
from probe_runtime.classifier import DISABLED_FUSIONS, session_options

from benchmarks.common.paths import REPO
from benchmarks.common.record import write_results
from benchmarks.data.texts import load_texts

RESULTS = Path(__file__).resolve().parent
REPS = 5


def classifier(path: Path, intra: int, threads: int, denormals: bool = False) -> Classifier:
    """A Classifier on a session with ``intra`` intra-op threads and ``threads`` batches in flight."""
    options = session_options(intra)
    if denormals:
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads, options.log_severity_level = intra, 1, 3
    session = ort.InferenceSession(
        str(path), options, providers=["CPUExecutionProvider"], disabled_optimizers=DISABLED_FUSIONS
    )
    manifest, tok = manifest_from_metadata(dict(session.get_modelmeta().custom_metadata_map), str(path))
    return Classifier(session, manifest, tok, str(path), threads=threads)


def interleaved(runs: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Median over REPS of each measurement, the alternatives interleaved so that load hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        run()  # warm-up
    for _ in range(REPS):
        for name, run in runs.items():
            samples[name].append(run())
    return {name: round(statistics.median(values), 2) for name, values in samples.items()}


def rate(clf: Classifier, texts: list[str], clock: Callable[[], float], **kwargs: int) -> Callable[[], float]:
    """A measurement of texts per second of ``clock``: wall (perf_counter) or CPU (process_time)."""

    def run() -> float:
        start = clock()
        clf.predict_proba(texts, **kwargs)
        return len(texts) / (clock() - start)

    return run


def wall_rate(clf: Classifier, texts: list[str], **kwargs: int) -> Callable[[], float]:
    return rate(clf, texts, time.perf_counter, **kwargs)


def cpu_rate(clf: Classifier, texts: list[str], **kwargs: int) -> Callable[[], float]:
    return rate(clf, texts, time.process_time, **kwargs)


def lone_batch_ms(session: ort.InferenceSession, feeds: dict[str, np.ndarray]) -> Callable[[], float]:
    def run() -> float:
        times = []
        for _ in range(30):
            start = time.perf_counter()
            session.run([OUTPUT_NAME], feeds)
            times.append(time.perf_counter() - start)
        return 1e3 * statistics.median(times)

    return run


def with_bias_gelu(source: Path, target: Path) -> None:
    """The exported graph with each Add(bias) -> Gelu pair turned back into com.microsoft BiasGelu."""
    model = onnx.load(str(source))
    inits = {i.name for i in model.graph.initializer}
    producer = {out: n for n in model.graph.node for out in n.output}
    drop, replace = set(), {}
    for gelu in (n for n in model.graph.node if n.op_type == "Gelu"):
        add = producer[gelu.input[0]]
        bias = next(i for i in add.input if i in inits)
        x = next(i for i in add.input if i not in inits)
        drop.add(id(add))
        replace[id(gelu)] = helper.make_node("BiasGelu", [x, bias], list(gelu.output), domain="com.microsoft")
    nodes = [replace.get(id(n), n) for n in model.graph.node if id(n) not in drop]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(target))


def denormal_child(path: Path, keep: bool) -> None:
    """Runs in a fresh process: its first onnxruntime session decides the denormal mode."""
    clf = classifier(path, 1, 1, denormals=keep)
    print(interleaved({"rate": cpu_rate(clf, load_texts("sst2", 2000))})["rate"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="an int8 artifact exported by the current probe")
    parser.add_argument("--denormal-child", choices=["keep", "flush"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.denormal_child:
        denormal_child(args.model, args.denormal_child == "keep")
        return 0
    sst2, tweets = load_texts("sst2", 2000), load_texts("tweets", 2000)
    out: dict[str, dict] = {}

    # 4 first: onnxruntime's denormal mode belongs to the first session of a process.
    out["denormals, texts per CPU-s (1 thread, SST-2)"] = {
        mode: float(
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "research.runtime_levers.study",
                    str(args.model.resolve()),
                    "--denormal-child",
                    mode,
                ],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for mode in ("keep", "flush")
    }

    runtime = classifier(args.model, 1, 2)
    sequential = classifier(args.model, 2, 1)
    both = classifier(args.model, 2, 2)
    for name, texts in (("SST-2", sst2), ("tweets", tweets)):
        out[f"batches in flight, texts/s ({name}, 2 cores)"] = interleaved(
            {
                "2 at once, 1 intra-op thread each (runtime)": wall_rate(runtime, texts),
                "1 at a time, 2 intra-op threads": wall_rate(sequential, texts),
                "2 at once on a 2-intra-op-thread session": wall_rate(both, texts),
                "3 at once, 1 thread each": wall_rate(classifier(args.model, 1, 3), texts),
                "4 at once, 1 thread each": wall_rate(classifier(args.model, 1, 4), texts),
            }
        )

    one, two = classifier(args.model, 1, 1).session, classifier(args.model, 2, 1).session
    names = [i.name for i in one.get_inputs()]
    lone: dict[str, float] = {}
    for rows, seq in ((1, 16), (1, 32), (1, 64), (8, 16), (1, 128), (1, 256)):
        feeds = {
            n: np.full((rows, seq), 2000 if n == "input_ids" else int(n == "attention_mask"), np.int64) for n in names
        }
        lone |= {
            f"{rows}x{seq} tokens, {k}": v
            for k, v in interleaved(
                {"1 thread": lone_batch_ms(one, feeds), "2 threads": lone_batch_ms(two, feeds)}
            ).items()
        }
    out["a lone batch, p50 ms (2 cores)"] = lone

    single = classifier(args.model, 1, 1)
    out["padded-token budget, texts per CPU-s (1 thread, SST-2)"] = interleaved(
        {str(budget): cpu_rate(single, sst2, max_tokens=budget) for budget in (48, 96, 128, 192, 256, 384, 512)}
    )

    with tempfile.TemporaryDirectory() as tmp:
        bias_gelu = Path(tmp) / "bias-gelu.onnx"
        with_bias_gelu(args.model, bias_gelu)
        old = classifier(bias_gelu, 1, 1)
        assert np.array_equal(old.predict_proba(sst2[:200]), single.predict_proba(sst2[:200]))
        out["GELU kernel, texts per CPU-s (1 thread, SST-2)"] = interleaved(
            {"opset-20 Gelu, bias in the matmul (exported)": cpu_rate(single, sst2), "BiasGelu": cpu_rate(old, sst2)}
        )

    lines = [
        f"Generated by `python -m research.runtime_levers.study {args.model}`; medians of {REPS} interleaved runs.",
        "",
    ]
    for section, values in out.items():
        lines += [f"**{section}**", "", "| variant | value |", "|---|---|"]
        lines += [f"| {k} | {v:,.2f} |" for k, v in values.items()] + [""]
    write_results(RESULTS / "runtime_levers.json", out, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
