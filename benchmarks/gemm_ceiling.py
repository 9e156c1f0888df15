"""How close does a probe file come to the int8 matrix-multiply ceiling of the CPU it runs on?

    .venv/bin/python -m benchmarks.gemm_ceiling artifacts/bench/pi-default.onnx --texts sst2 --n 2000

The ceiling is measured, not computed from a data sheet: the same batches the runtime plans for the texts
(length-sorted, its default token budget) are replayed through a graph that holds only the file's weight
matrix multiplies, as onnxruntime's u8 x s8 ``MatMulInteger`` (the kernel behind ``DynamicQuantizeMatMul``,
``QAttention`` and ``MatMulIntegerToFloat``) on activations of each batch's rows. Its CPU time per text is what
the encoder would cost if everything but the int8 GEMMs were free. The file itself runs the same batches, one
onnxruntime thread each (texts per CPU-second: on two cores the runtime keeps two such batches in flight),
interleaved batch by batch with the ceiling graph so a burst of load elsewhere hits both alike. The share is
ceiling CPU time / file CPU time; onnxruntime's profiler then says where the rest of the file's time goes.

Writes ``benchmarks/results/gemm_ceiling-NAME.json`` and ``.md`` and the section ``gemm-ceiling-NAME`` of
docs/benchmarks.md (``--no-doc`` to skip).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from probe_runtime import Classifier
from probe_runtime.artifact import OUTPUT_NAME
from probe_runtime.classifier import DEFAULT_BATCH_SIZE, DEFAULT_MAX_TOKENS
from probe_runtime.loader import DISABLED_FUSIONS, session_options

from benchmarks.common.paths import REPO
from benchmarks.common.record import host_line, write_results, write_section
from benchmarks.data.texts import load_texts
from benchmarks.profile_runtime import op_profile

RESULTS = Path(__file__).resolve().parent / "results"
DOC = REPO / "docs" / "benchmarks.md"
# Ops whose second input is a weight matrix of the encoder (or of the head, which is left out: a matrix with
# one column per class is the classification head, a few kB of work per text).
WEIGHT_OPS = {"MatMul", "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "QAttention", "Attention"}
LATENCY_TEXTS = 200  # the harness's batch-1 texts: the first 200


@dataclass(frozen=True)
class Weight:
    name: str
    rows: int  # K: the activation's width
    columns: int  # N


def weight_matrices(model: onnx.ModelProto, classes: int) -> list[Weight]:
    """The encoder's weight matrices, as the file's matrix-multiply nodes consume them (K x N each); the head's
    (``classes`` columns) is not one of them."""
    shapes = {init.name: tuple(init.dims) for init in model.graph.initializer}
    found: list[Weight] = []
    for node in model.graph.node:
        if node.op_type in WEIGHT_OPS and len(node.input) > 1 and len(shapes.get(node.input[1], ())) == 2:
            rows, columns = shapes[node.input[1]]
            if columns != classes:
                found.append(Weight(node.input[1], int(rows), int(columns)))
    if not found:
        raise SystemExit("no weight matrix multiplies found in the graph: is this a probe file?")
    return found


def ceiling_graph(weights: list[Weight]) -> onnx.ModelProto:
    """One ``MatMulInteger`` per weight (random s8, same shape), fed u8 activations ``a{K}`` of M rows."""
    rng = np.random.default_rng(0)
    nodes, inits, outputs = [], [], []
    widths = sorted({w.rows for w in weights})
    zero = numpy_helper.from_array(np.array(128, dtype=np.uint8), "a_zero")
    inits.append(zero)
    for i, w in enumerate(weights):
        matrix = rng.integers(-127, 128, size=(w.rows, w.columns), dtype=np.int8)
        inits.append(numpy_helper.from_array(matrix, f"w{i}"))
        nodes.append(helper.make_node("MatMulInteger", [f"a{w.rows}", f"w{i}", "a_zero"], [f"y{i}"]))
        outputs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.INT32, None))
    inputs = [helper.make_tensor_value_info(f"a{k}", TensorProto.UINT8, ["m", k]) for k in widths]
    graph = helper.make_graph(nodes, "gemm_ceiling", inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def macs_per_row(weights: list[Weight]) -> int:
    return sum(w.rows * w.columns for w in weights)


def measure(path: Path, texts: list[str], rounds: int) -> dict:
    """CPU seconds of the file and of its ceiling graph over the same batches, interleaved per batch."""
    clf = Classifier.load(path, threads=1)
    model = onnx.load(str(path))
    weights = weight_matrices(model, len(clf.labels))
    batches = list(clf.encoder.batches(clf.encoder.encode(texts), DEFAULT_BATCH_SIZE, DEFAULT_MAX_TOKENS))
    options = session_options(1)  # the runtime's own settings: what users run
    graph = ort.InferenceSession(path, options, ["CPUExecutionProvider"], disabled_optimizers=DISABLED_FUSIONS)
    ceiling_model = ceiling_graph(weights).SerializeToString()
    ceiling = ort.InferenceSession(ceiling_model, session_options(1), ["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    widths = sorted({w.rows for w in weights})
    feeds = []
    for batch in batches:
        ids = next(iter(batch.feeds.values()))
        rows = int(ids.shape[0] * ids.shape[1])
        feeds.append({f"a{k}": rng.integers(0, 256, size=(rows, k), dtype=np.uint8) for k in widths})
    for batch, feed in zip(batches[:20], feeds[:20], strict=True):  # warm both up
        graph.run([OUTPUT_NAME], batch.feeds)
        ceiling.run(None, feed)
    cpu = time.process_time
    graph_s, ceiling_s = [0.0] * rounds, [0.0] * rounds
    for r in range(rounds):
        for i, (batch, feed) in enumerate(zip(batches, feeds, strict=True)):
            pair = ((graph, [OUTPUT_NAME], batch.feeds), (ceiling, None, feed))
            for session, names, inputs in pair if (i + r) % 2 == 0 else pair[::-1]:
                start = cpu()
                session.run(names, inputs)
                spent = cpu() - start
                if session is graph:
                    graph_s[r] += spent
                else:
                    ceiling_s[r] += spent
    rows = sum(int(next(iter(b.feeds.values())).size) for b in batches)
    single = _single_text_ms(clf, graph, ceiling, texts[:LATENCY_TEXTS], widths)
    ops = op_profile(str(path), 1, clf, texts, DEFAULT_BATCH_SIZE, DEFAULT_MAX_TOKENS)
    shares = [c / g for c, g in zip(ceiling_s, graph_s, strict=True)]
    return {
        "file": str(path),
        "precision": str(clf.manifest.quantization),
        "texts": len(texts),
        "batches": len(batches),
        "padded_tokens": rows,
        "weights": len(weights),
        "macs_per_token": macs_per_row(weights),
        "rounds": rounds,
        "file_cpu_s": graph_s,
        "ceiling_cpu_s": ceiling_s,
        "file_texts_per_cpu_s": len(texts) / float(np.median(graph_s)),
        "ceiling_texts_per_cpu_s": len(texts) / float(np.median(ceiling_s)),
        "gemm_gmac_per_cpu_s": rows * macs_per_row(weights) / float(np.median(ceiling_s)) / 1e9,
        "share_of_ceiling": float(np.median(shares)),
        "share_min_max": [min(shares), max(shares)],
        "kernel_ms_by_op": {k: v / 1e3 for k, v in ops.items()},
        "single_text_p50_ms": single,
    }


def _single_text_ms(
    clf: Classifier, graph: ort.InferenceSession, ceiling: ort.InferenceSession, texts: list[str], widths: list[int]
) -> dict[str, float]:
    """Batch-1 p50 (wall ms, one thread) of the file's graph and of its weight matmuls alone, text by text."""
    rng = np.random.default_rng(2)
    spent: dict[str, list[float]] = {"file": [], "ceiling": []}
    for _ in range(3):
        for text in texts:
            (batch,) = clf.encoder.batches(clf.encoder.encode([text]), 1, DEFAULT_MAX_TOKENS)
            rows = int(next(iter(batch.feeds.values())).size)
            feed = {f"a{k}": rng.integers(0, 256, size=(rows, k), dtype=np.uint8) for k in widths}
            for name, session, names, inputs in (
                ("file", graph, [OUTPUT_NAME], batch.feeds),
                ("ceiling", ceiling, None, feed),
            ):
                start = time.perf_counter()
                session.run(names, inputs)
                spent[name].append(time.perf_counter() - start)
    return {name: 1e3 * float(np.median(values)) for name, values in spent.items()}


def markdown(result: dict, command: str, load: tuple[float, float]) -> str:
    share = result["share_of_ceiling"]
    low, high = result["share_min_max"]
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {load[0]:.2f} at start, "
        f"{load[1]:.2f} at end. Reproduce: `{command}`",
        "",
        f"{result['texts']:,} texts in {result['batches']} batches ({result['padded_tokens']:,} padded tokens), "
        f"{result['precision']} file, {result['weights']} weight matrices ({result['macs_per_token'] / 1e6:.1f} M "
        f"MAC per token), one onnxruntime thread, {result['rounds']} interleaved rounds (median):",
        "",
        "| | texts per CPU-s | CPU s per pass |",
        "|---|---:|---:|",
        f"| int8 GEMM ceiling (the weight matmuls alone, {result['gemm_gmac_per_cpu_s']:.0f} GMAC per CPU-s) | "
        f"{result['ceiling_texts_per_cpu_s']:,.0f} | {float(np.median(result['ceiling_cpu_s'])):.3f} |",
        f"| the file | {result['file_texts_per_cpu_s']:,.0f} | {float(np.median(result['file_cpu_s'])):.3f} |",
        "",
        f"One text at a time (the first {LATENCY_TEXTS} texts, `session.run` only, one thread, p50): the file "
        f"{result['single_text_p50_ms']['file']:.2f} ms, its weight matmuls alone "
        f"{result['single_text_p50_ms']['ceiling']:.2f} ms.",
        "",
        f"**The file runs at {100 * share:.0f} % of the ceiling** ({100 * low:.0f}–{100 * high:.0f} % over rounds). "
        "Where its kernel time goes (onnxruntime profiler, one pass):",
        "",
        "| op type | kernel ms | share |",
        "|---|---:|---:|",
    ]
    ops = result["kernel_ms_by_op"]
    total = sum(ops.values())
    lines += [f"| {op} | {ms:,.1f} | {100 * ms / total:.1f} % |" for op, ms in ops.items() if ms / total >= 0.005]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a probe file (.onnx), e.g. the default export")
    parser.add_argument("--texts", default="sst2", help="sst2, tweets, or a one-text-per-line file")
    parser.add_argument("--n", type=int, default=2000, help="texts (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved passes (default 5)")
    parser.add_argument("--name", default=None, help="results name (default: the text set)")
    parser.add_argument("--no-doc", action="store_true", help="do not write the docs/benchmarks.md section")
    args = parser.parse_args(argv)
    name = args.name or args.texts
    start_load = os.getloadavg()[0]
    result = measure(args.model, load_texts(args.texts, args.n), args.rounds)
    load = (start_load, os.getloadavg()[0])
    command = "python -m benchmarks.gemm_ceiling " + " ".join(sys.argv[1:] if argv is None else argv)
    text = markdown(result, command, load)
    record = write_results(RESULTS / f"gemm_ceiling-{name}.json", result | {"load": load, "command": command}, text)
    if not args.no_doc:
        write_section(DOC, f"gemm-ceiling-{name}", text + "\n\n" + host_line(record["host"]))
    print(text + "\n\n" + host_line(record["host"]))


if __name__ == "__main__":
    main()
