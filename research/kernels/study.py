"""Single onnxruntime kernels at MiniLM shapes: which fused op is worth its fusion on this CPU?

    .venv/bin/python -m research.kernels.study [--threads 1]

One-node graphs built with ``onnx.helper``, timed in CPU time per call (steadier than wall time on a
shared machine). Answers: is SkipLayerNormalization faster than Add + LayerNormalization, BiasGelu
than FastGelu, how much of QAttention is its QKV matrix multiply, and how many int8 MACs per second
the u8s8 GEMM reaches at the row counts our batches have (AMX/VNNI dispatch is onnxruntime's), and
whether packing several short texts into one sequence (block-diagonal mask) speeds attention up.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from benchmarks.common.paths import REPO

H, HEADS = 384, 12


def cpu_us(
    model: onnx.ModelProto, feeds: dict[str, np.ndarray], threads: int, calls: int = 100, flush_denormals: bool = False
) -> float:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    if flush_denormals:
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # time the node as written
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    session.run(None, feeds)
    start = time.process_time()
    for _ in range(calls):
        session.run(None, feeds)
    return (time.process_time() - start) / calls * 1e6


def graph(
    nodes: list, inputs: dict[str, np.ndarray], inits: dict[str, np.ndarray], out_type: int = TensorProto.FLOAT
) -> onnx.ModelProto:
    kinds = {np.float32: TensorProto.FLOAT, np.uint8: TensorProto.UINT8, np.int32: TensorProto.INT32}
    values = [helper.make_tensor_value_info(k, kinds[v.dtype.type], list(v.shape)) for k, v in inputs.items()]
    out = [helper.make_tensor_value_info("y", out_type, None)]
    initializers = [numpy_helper.from_array(v, k) for k, v in inits.items()]
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(helper.make_graph(nodes, "g", values, out, initializers), opset_imports=opsets)


def padded_softmax_us(threads: int, flush_denormals: bool) -> float:
    scores = np.random.default_rng(0).standard_normal((10, HEADS, 13, 13), dtype=np.float32) * 3
    scores[..., 11:] -= 10000.0
    softmax = graph([helper.make_node("Softmax", ["x"], ["y"], axis=-1)], {"x": scores}, {})
    return cpu_us(softmax, {"x": scores}, threads, 300, flush_denormals=flush_denormals)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--softmax-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--flush", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=896, help="tokens in a batch (64 texts x 14 tokens)")
    args = parser.parse_args(argv)
    if args.softmax_only:  # the child process of the denormal measurement below
        print(padded_softmax_us(args.threads, args.flush))
        return
    rng = np.random.default_rng(0)
    rows, th = args.rows, args.threads
    x = rng.standard_normal((rows, H), dtype=np.float32)
    x4 = rng.standard_normal((rows, 4 * H), dtype=np.float32)
    gamma, beta, b4 = np.ones(H, np.float32), np.zeros(H, np.float32), np.zeros(4 * H, np.float32)
    ms = "com.microsoft"

    print(f"{rows} rows, {th} thread(s), CPU microseconds per call")
    skip = helper.make_node("SkipLayerNormalization", ["x", "s", "g", "b"], ["y"], domain=ms, epsilon=1e-12)
    add = helper.make_node("Add", ["x", "s"], ["t"])
    ln = helper.make_node("LayerNormalization", ["t", "g", "b"], ["y"], epsilon=1e-12)
    feeds: dict[str, np.ndarray] = {"x": x, "s": x}
    inits: dict[str, np.ndarray] = {"g": gamma, "b": beta}
    print(f"  SkipLayerNormalization      {cpu_us(graph([skip], feeds, inits), feeds, th):9.1f}")
    print(f"  Add + LayerNormalization    {cpu_us(graph([add, ln], feeds, inits), feeds, th):9.1f}")
    for op in ("BiasGelu", "FastGelu"):
        node = helper.make_node(op, ["x", "b"], ["y"], domain=ms)
        print(f"  {op:<27s} {cpu_us(graph([node], {'x': x4}, {'b': b4}), {'x': x4}, th):9.1f}")

    batch, seq = 64, rows // 64
    xq = rng.integers(0, 255, (batch, seq, H), dtype=np.uint8)
    w = rng.integers(-127, 127, (H, 3 * H), dtype=np.int8)
    scalars: dict[str, np.ndarray] = {
        "xs": np.array(0.02, np.float32),
        "ws": np.array(0.01, np.float32),
        "xz": np.array(128, np.uint8),
        "wz": np.array(0, np.int8),
    }
    feeds = {"x": xq, "m": np.full(batch, seq, np.int32)}
    qattn = helper.make_node(
        "QAttention", ["x", "w", "bias", "xs", "ws", "m", "xz", "wz"], ["y"], domain=ms, num_heads=HEADS
    )
    inits = {"w": w, "bias": np.zeros(3 * H, np.float32), **scalars}
    print(f"  QAttention (B={batch}, S={seq})      {cpu_us(graph([qattn], feeds, inits), feeds, th):9.1f}")
    qkv = helper.make_node("MatMulInteger", ["x", "w", "xz"], ["y"])
    qkv_us = cpu_us(graph([qkv], {"x": xq}, {"w": w, "xz": scalars["xz"]}, TensorProto.INT32), {"x": xq}, th)
    print(f"  its QKV MatMulInteger alone {qkv_us:9.1f}")
    # Sequence packing: k texts of `seq` tokens in one sequence, a block-diagonal 3-D mask keeping them
    # apart. Fewer (batch, head) attention calls, but QAttention computes every masked block too.
    for k in (4, 16):
        packed = {
            "x": xq.reshape(batch // k, k * seq, H),
            "m": np.kron(np.eye(k, dtype=np.int32), np.ones((seq, seq), np.int32)),
        }
        packed["m"] = np.broadcast_to(packed["m"], (batch // k, k * seq, k * seq)).copy()
        us = cpu_us(graph([qattn], packed, inits), packed, th)
        print(f"  QAttention, {k} texts packed per sequence (3-D mask) {us:9.1f}")

    # Attention scores of padded positions are pushed to -10000 before the softmax; exp() of them
    # underflows into denormal floats, which x86 handles in microcode unless they are flushed to zero.
    # onnxruntime applies session.set_denormal_as_zero once per process, from the first session
    # created, so each setting is measured in a fresh process.
    for flush in (False, True):
        child = [sys.executable, "-m", "research.kernels.study", "--softmax-only", "--threads", str(th)]
        child += ["--flush"] if flush else []
        us = float(subprocess.run(child, capture_output=True, text=True, check=True, cwd=REPO).stdout)
        print(f"  Softmax [10,12,13,13], 2 of 13 padded, denormals {'flushed' if flush else 'kept'}: {us:.1f}")

    print("u8 x s8 MatMulInteger, K=384, N=1536 (the FFN up-projection):")
    w = rng.integers(-127, 127, (H, 4 * H), dtype=np.int8)
    for m in (14, 64, 256, 896, 4096):
        a = rng.integers(0, 255, (m, H), dtype=np.uint8)
        us = cpu_us(
            graph([helper.make_node("MatMulInteger", ["x", "w"], ["y"])], {"x": a}, {"w": w}, TensorProto.INT32),
            {"x": a},
            th,
        )
        print(f"  M={m:5d}  {us:9.1f} us  {m * H * 4 * H / us / 1e3:6.0f} GMAC per CPU-s")


if __name__ == "__main__":
    main()
