"""Why is MatMulNBits 8-bit (accuracy level 4) slow here? One matmul, every kernel, side by side.

    .venv/bin/python -m research.nbits_kernel.study      # ~3 min, one core

MiniLM's weight matmuls at the token counts a classifier sees (M = 16, 64, 256 tokens per batch):
QKV 384x1152, attention output 384x384, FFN up 384x1536, FFN down 1536x384. Each variant is a
one-node (or one-chain) graph built from the same random weight and run by onnxruntime with the
runtime's own session options (1 intra-op thread). Times are microseconds per call, median of
interleaved repetitions in one process, so they are comparable with each other, not across runs.

Variants:
- fp32 MatMul (MLAS sgemm);
- dynamic int8 (``quantize_dynamic``, per-channel weights; onnxruntime fuses it into
  DynamicQuantizeMatMul: u8s8 QGEMM, which uses AMX/VNNI on this CPU);
- per-token int8 (``probe_export.rowwise``: ReduceMax/Min + QuantizeLinear + MatMulIntegerToFloat + Mul);
- MatMulNBits 8-bit symmetric, accuracy level 4 (int8 compute) with block 16..256, and level 0
  (fp32 compute); with and without ``session.disable_prepacking``: if disabling prepacking changes
  nothing, the kernel was not prepacking (then it dequantizes the whole weight on every call).

Writes research/nbits_kernel/nbits_kernel.{json,md}. ``--profile TEXTS.csv GRAPH...`` instead profiles whole
graphs (``SessionOptions.enable_profiling``) and writes each op type's share of kernel time to
research/nbits_kernel/nbits_profile.{json,md}.

What it showed (Intel Xeon with AMX-INT8 and AVX-512 VNNI, onnxruntime 1.32, see the results files):
- The int8 kernel IS the one running: level 4 prepacks (``session.disable_prepacking`` makes block 32
  3-7x slower at 16 tokens, exactly the level-0 time: with no prepacked int8 weight, MatMulNBits
  dequantizes the whole weight to fp32 on every call, then runs sgemm).
- That prepacked kernel (MLAS SQ8BitGemm, CompInt8: A quantized per block, int8 dot products, one float
  multiply-add per block and output) runs at fp32-sgemm speed at every M (0.7-1.4x sgemm's time, 16 to
  256 tokens): slow at all M, not only small M. Blocks 128/256 are 1.2-1.7x faster than 32 and still no
  faster than fp32. The u8s8 QGEMM behind DynamicQuantizeMatMul / MatMulIntegerToFloat uses MLAS's AMX
  kernel on this CPU and is 3.5-6x faster than sgemm: that is the whole gap.
- Not the attention path: in a whole MiniLM graph MatMulNBits takes ~80 % of kernel time,
  MultiHeadAttention ~8-10 %; fused (QKV fp32) and unfused graphs ran at the same speed (int8_nbits.md).
- Threading settings (``session.intra_op.allow_spinning``) cannot matter: 1 intra-op thread has no pool.
- Blocks 128 and 256 are not batch-independent: their float accumulation order depends on M (2e-7
  relative per matmul), and the next layer's int8 re-quantization turns that into whole quantization
  steps: |Δp| up to 0.025 alone vs batched on whole graphs. Blocks 16-64 are bit-identical across M.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
from probe_export.rowwise import rowwise_activations
from probe_runtime.classifier import DISABLED_FUSIONS, session_options

from benchmarks.common.host import cpu_name
from benchmarks.common.record import write_results

RESULTS = Path(__file__).resolve().parent
SHAPES = {
    "QKV 384x1152": (384, 1152),
    "attn out 384x384": (384, 384),
    "FFN up 384x1536": (384, 1536),
    "FFN down 1536x384": (1536, 384),
}
TOKENS = (16, 64, 256)
BLOCKS = (16, 32, 64, 128, 256)
REPS, CALLS = 5, 40


def matmul_graph(k: int, n: int, path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    weight = (rng.standard_normal((k, n)) * 0.05).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        "one_matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["m", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m", n])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    onnx.save(model, str(path))
    return path


def nbits(source: Path, target: Path, block: int, level: int) -> Path:
    quantizer = MatMulNBitsQuantizer(
        onnx.load(str(source)), bits=8, block_size=block, is_symmetric=True, accuracy_level=level
    )
    quantizer.process()
    quantizer.model.save_model_to_file(str(target), use_external_data_format=False)
    return target


def session(path: Path, prepack: bool = True) -> ort.InferenceSession:
    options = session_options(1)
    if not prepack:
        options.add_session_config_entry("session.disable_prepacking", "1")
    return ort.InferenceSession(
        str(path), options, providers=["CPUExecutionProvider"], disabled_optimizers=DISABLED_FUSIONS
    )


def variants(k: int, n: int, work: Path) -> dict[str, ort.InferenceSession]:
    fp32 = matmul_graph(k, n, work / f"fp32-{k}x{n}.onnx")
    dyn = work / f"dyn-{k}x{n}.onnx"
    quantize_dynamic(str(fp32), str(dyn), weight_type=QuantType.QInt8, per_channel=True)
    tok = work / f"tok-{k}x{n}.onnx"
    rowwise_activations(dyn, tok, symmetric=True)
    out = {"fp32": session(fp32), "dynamic int8": session(dyn), "per-token int8": session(tok)}
    for block in BLOCKS:
        path = nbits(fp32, work / f"nb{block}-{k}x{n}.onnx", block, 4)
        out[f"NBits8 L4 b{block}"] = session(path)
        if block == 32:
            out[f"NBits8 L4 b{block} no-prepack"] = session(path, prepack=False)
    out["NBits8 L0 b32 (fp32 compute)"] = session(nbits(fp32, work / f"nb32l0-{k}x{n}.onnx", 32, 0))
    return out


def measure() -> dict:
    work = Path(tempfile.mkdtemp(prefix="nbits-kernel-"))
    rng = np.random.default_rng(1)
    results: dict = {}
    for shape, (k, n) in SHAPES.items():
        sessions = variants(k, n, work)
        for m in TOKENS:
            x = rng.standard_normal((m, k)).astype(np.float32)
            x[0] *= 8  # a [CLS]-like outlier row, as in MiniLM
            ref = sessions["fp32"].run(None, {"x": x})[0]
            times: dict[str, list[float]] = {name: [] for name in sessions}
            for _ in range(REPS):
                for name, sess in sessions.items():
                    sess.run(None, {"x": x})
                    start = time.perf_counter()
                    for _ in range(CALLS):
                        sess.run(None, {"x": x})
                    times[name].append((time.perf_counter() - start) / CALLS * 1e6)
            row = {}
            for name, sess in sessions.items():
                y = sess.run(None, {"x": x})[0]
                row[name] = {
                    "us": statistics.median(times[name]),
                    "rel_err": float(np.linalg.norm(y - ref) / np.linalg.norm(ref)),
                }
            results[f"{shape}, M={m}"] = row
            print(shape, m, {k_: round(v["us"]) for k_, v in row.items()}, flush=True)
    return results


def markdown(results: dict, cpu: str) -> str:
    names = list(next(iter(results.values())))
    lines = [
        f"One matmul, µs per call (1 thread), {cpu}, onnxruntime {ort.__version__}; median of {REPS} interleaved "
        "repetitions in one run (ratios, not absolute times, carry over). Relative output error vs fp32 in brackets "
        "(row 0 of the input is a 8x outlier row, like MiniLM's [CLS]).",
        "",
        "| matmul, tokens | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for key, row in results.items():
        lines.append(
            f"| {key} | " + " | ".join(f"{row[nm]['us']:.0f} ({row[nm]['rel_err']:.1e})" for nm in names) + " |"
        )
    return "\n".join(lines) + "\n"


def profile(paths: list[Path], texts: list[str], calls: int = 3) -> dict[str, dict[str, float]]:
    """Whole graphs: share of onnxruntime's profiled kernel time per op type (``enable_profiling``)."""
    from probe_runtime.artifact import manifest_from_metadata
    from probe_runtime.batching import TextEncoder

    meta = ort.InferenceSession(str(paths[0]), providers=["CPUExecutionProvider"]).get_modelmeta()
    manifest, tok = manifest_from_metadata(dict(meta.custom_metadata_map), str(paths[0]))
    encoder = TextEncoder(tok, manifest.max_length, manifest.pad_token_id, manifest.input_names)
    batches = [b.feeds for b in encoder.batches(encoder.encode(texts), 64, 256)]
    out = {}
    for path in paths:
        options = session_options(1)
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "profile")
        sess = ort.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"], disabled_optimizers=DISABLED_FUSIONS
        )
        for _ in range(calls):
            for feeds in batches:
                sess.run(None, feeds)
        events = json.loads(Path(sess.end_profiling()).read_text())
        per_op: dict[str, float] = {}
        for event in events:
            if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
                op = event["args"]["op_name"]
                per_op[op] = per_op.get(op, 0.0) + event["dur"]
        total = sum(per_op.values())
        out[path.name] = {"total_ms_per_pass": total / calls / 1e3} | {
            op: round(t / total, 3) for op, t in sorted(per_op.items(), key=lambda kv: -kv[1]) if t / total >= 0.01
        }
    return out


def profile_markdown(shares: dict[str, dict[str, float]]) -> str:
    """Each profiled graph: kernel time per pass and the op types taking >= 1 % of it."""
    lines = ["| graph | kernel ms per pass | share of kernel time by op type |", "|---|---|---|"]
    for graph, row in shares.items():
        ops = ", ".join(f"{op} {share:.0%}" for op, share in row.items() if op != "total_ms_per_pass")
        lines.append(f"| {graph} | {row['total_ms_per_pass']:.1f} | {ops} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--profile", nargs="+", metavar=("TEXTS.csv", "GRAPH"), help="profile whole graphs instead: op-type shares"
    )
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    cpu = cpu_name()
    if args.profile:
        from probe_train.data import load_dataset

        if len(args.profile) < 2:
            parser.error("--profile needs a texts CSV and at least one graph")
        texts = load_dataset(args.profile[0], min_classes=1).texts[:512]
        shares = profile([Path(p) for p in args.profile[1:]], texts)
        write_results(RESULTS / "nbits_profile.json", {"cpu": cpu, "graphs": shares}, profile_markdown(shares))
        print(json.dumps(shares, indent=1))
        return 0
    results = measure()
    payload = {"cpu": cpu, "onnxruntime": ort.__version__, "threads": 1, "results": results}
    write_results(RESULTS / "nbits_kernel.json", payload, markdown(results, cpu))
    print(markdown(results, cpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
