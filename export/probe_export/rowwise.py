"""Per-token int8: activations quantized with one scale per row (token), not one per batch.

Why: onnxruntime's dynamic int8 scales each matmul input by its largest value *in the whole batch*.
In MiniLM the [CLS] token carries values ~3x larger than any other token's (measured:
benchmarks/results/int8_rowwise.md), so one text's quantization depends on which texts it is
batched with, and every other token is quantized coarsely. With one scale per row, a text's
result no longer depends on its batch, and flips against fp32 fell from 2.6 % to 1.4 % on 5,000
SST-2 phrases, at ~0.77x the speed of the per-tensor graph.

``rowwise_activations`` rewrites a graph made by ``quantize_dynamic`` (per-channel int8 weights): every
``DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(a_scale * w_scale)`` chain becomes

    x2 = Reshape(x, [-1, K]);  hi = ReduceMax(x2, 1);  lo = ReduceMin(x2, 1)           # [M]
    symmetric:   s = max(hi, -lo, tiny) / 127;             zp = 128 (uint8, a scalar for the MatMul)
    asymmetric:  s = (max(hi, 0) - min(lo, 0)) / 255;      zp = round(-min(lo, 0) / s) (uint8)
    q = QuantizeLinear(x2, s, zp, axis=0)                                              # per-axis = per row
    z = MatMulIntegerToFloat(q, Wq, 1, w_scale[, 128])                                 # = (q - zp) @ Wq * w_scale
    y2 = z * s[:, None]          (asymmetric: - (zp * s)[:, None] * (colsum(Wq) * w_scale))
    y = Reshape(y2, [*Shape(x)[:-1], N])

Hand-built because onnxruntime's quantizer has no per-row dynamic mode, and its CPU MatMulInteger
refuses a per-row ``a_zero_point`` (``IsScalarOr1ElementVector``) although the ONNX spec allows it;
hence the explicit zero-point correction for the asymmetric form. The fused QAttention has one input
scale, so ``unfuse_attention`` first turns each Attention into a weight MatMul (which then gets
per-row activations) + Split + fp32 MultiHeadAttention. onnxruntime's int8 x int8
MatMulIntegerToFloat is ~35x slower than uint8 x int8 on this CPU, so the symmetric form stores
q + 128 as uint8 with a scalar zero point 128.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["rowwise_activations", "unfuse_attention"]

log = logging.getLogger(__name__)


def _const(model: onnx.ModelProto, name: str, value: np.ndarray) -> str:
    model.graph.initializer.append(numpy_helper.from_array(value, name))
    return name


def _reduce(model: onnx.ModelProto, op: str, x: str, y: str, opset: int) -> onnx.NodeProto:
    """``op`` over axis 1 without keepdims; the axes moved from an attribute to an input in opset 18."""
    if opset >= 18:
        axes = "rowwise_axis1"
        if axes not in {i.name for i in model.graph.initializer}:
            _const(model, axes, np.array([1], np.int64))
        return helper.make_node(op, [x, axes], [y], keepdims=0)
    return helper.make_node(op, [x], [y], axes=[1], keepdims=0)


def rowwise_activations(
    source: Path, target: Path, symmetric: bool = False, only: Callable[[str], bool] | None = None
) -> int:
    """Per-row (per-token) activation quantization for every quantized MatMul (or those whose node name
    ``only`` accepts); returns how many."""
    model = onnx.load(str(source))
    nodes = list(model.graph.node)
    producer = {out: n for n in nodes for out in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    inits = {i.name: i for i in model.graph.initializer}
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    tiny = _const(model, "rowwise_tiny", np.array(1e-8, np.float32))
    one = _const(model, "rowwise_one", np.array(1.0, np.float32))
    zero = _const(model, "rowwise_zero", np.array(0.0, np.float32))
    mid = _const(model, "rowwise_mid", np.array(128.0, np.float32))
    zp128 = _const(model, "rowwise_zp128", np.array(128, np.uint8))
    inv = _const(model, "rowwise_inv_levels", np.array(1 / (127.0 if symmetric else 255.0), np.float32))
    drop: list[onnx.NodeProto] = []
    rewritten = 0
    for mm in nodes:
        if mm.op_type != "MatMulInteger" or (only is not None and not only(mm.name)):
            continue
        dql = producer.get(mm.input[0])
        if dql is None or dql.op_type != "DynamicQuantizeLinear":
            continue
        (cast,) = consumers[mm.output[0]]
        (mul,) = consumers[cast.output[0]]
        scales = producer[next(i for i in mul.input if i != cast.output[0])]  # Mul(a_scale, w_scale)
        w_scale = next(i for i in scales.input if i in inits)
        if len(mm.input) > 3 and mm.input[3] and numpy_helper.to_array(inits[mm.input[3]]).any():
            raise ValueError(f"{mm.name}: per-token rewrite needs symmetric int8 weights (zero point 0)")
        weight = numpy_helper.to_array(inits[mm.input[1]])
        k, n_out = weight.shape
        x, y, b = dql.input[0], mul.output[0], mm.name + "_rowwise"
        c = {s: f"{b}/{s}" for s in ("x2", "hi", "lo", "s", "zp", "q", "z", "s1", "y2", "shape", "lead")}
        new = [
            helper.make_node("Reshape", [x, _const(model, f"{b}/k", np.array([-1, k], np.int64))], [c["x2"]]),
            _reduce(model, "ReduceMax", c["x2"], c["hi"], opset),
            _reduce(model, "ReduceMin", c["x2"], c["lo"], opset),
        ]
        if symmetric:
            new += [
                helper.make_node("Neg", [c["lo"]], [f"{b}/neg"]),
                helper.make_node("Max", [c["hi"], f"{b}/neg", tiny], [f"{b}/amax"]),
                helper.make_node("Mul", [f"{b}/amax", inv], [c["s"]]),
                helper.make_node("Mul", [c["hi"], zero], [f"{b}/zf"]),
                helper.make_node("Add", [f"{b}/zf", mid], [f"{b}/zf128"]),
                helper.make_node("Cast", [f"{b}/zf128"], [c["zp"]], to=TensorProto.UINT8),
            ]
        else:
            new += [
                helper.make_node("Max", [c["hi"], zero], [f"{b}/hi0"]),
                helper.make_node("Min", [c["lo"], zero], [f"{b}/lo0"]),
                helper.make_node("Sub", [f"{b}/hi0", f"{b}/lo0"], [f"{b}/range"]),
                helper.make_node("Mul", [f"{b}/range", inv], [f"{b}/s0"]),
                helper.make_node("Max", [f"{b}/s0", tiny], [c["s"]]),
                helper.make_node("Div", [f"{b}/lo0", c["s"]], [f"{b}/los"]),
                helper.make_node("Neg", [f"{b}/los"], [f"{b}/nlos"]),
                helper.make_node("Round", [f"{b}/nlos"], [f"{b}/zpf"]),
                helper.make_node("Cast", [f"{b}/zpf"], [c["zp"]], to=TensorProto.UINT8),
            ]
        new += [
            helper.make_node("QuantizeLinear", [c["x2"], c["s"], c["zp"]], [c["q"]], axis=0),
            helper.make_node(
                "MatMulIntegerToFloat",
                [c["q"], mm.input[1], one, w_scale] + ([zp128] if symmetric else []),
                [c["z"]],
                domain="com.microsoft",
            ),
            helper.make_node("Unsqueeze", [c["s"], _const(model, f"{b}/ax1", np.array([1], np.int64))], [c["s1"]]),
        ]
        if symmetric:
            new.append(helper.make_node("Mul", [c["z"], c["s1"]], [c["y2"]]))
        else:
            colsum = weight.astype(np.float64).sum(0) * numpy_helper.to_array(inits[w_scale]).astype(np.float64)
            new += [
                helper.make_node("Cast", [c["zp"]], [f"{b}/zpf1"], to=TensorProto.FLOAT),
                helper.make_node("Mul", [f"{b}/zpf1", c["s"]], [f"{b}/zps"]),
                helper.make_node("Unsqueeze", [f"{b}/zps", f"{b}/ax1"], [f"{b}/zps1"]),
                helper.make_node(
                    "Mul", [f"{b}/zps1", _const(model, f"{b}/colsum", colsum.astype(np.float32))], [f"{b}/corr"]
                ),
                helper.make_node("Mul", [c["z"], c["s1"]], [f"{b}/zs"]),
                helper.make_node("Sub", [f"{b}/zs", f"{b}/corr"], [c["y2"]]),
            ]
        new += [
            helper.make_node("Shape", [x], [c["lead"]], end=-1),
            helper.make_node(
                "Concat", [c["lead"], _const(model, f"{b}/n", np.array([n_out], np.int64))], [c["shape"]], axis=0
            ),
            helper.make_node("Reshape", [c["y2"], c["shape"]], [y]),
        ]
        for i, node in enumerate(new):
            node.name = f"{b}/{i}_{node.op_type}"
        index = list(model.graph.node).index(mm)
        for offset, node in enumerate(new):
            model.graph.node.insert(index + offset, node)
        drop += [mm, cast, mul]
        if all(con in (mm,) for con in consumers[dql.output[0]]):
            drop.append(dql)
        rewritten += 1
    for node in drop:
        model.graph.node.remove(node)
    used = {i for n in model.graph.node for i in n.input}
    for node in [n for n in model.graph.node if n.op_type == "Mul" and n.output[0] not in used]:
        model.graph.node.remove(node)  # the now unused a_scale * w_scale products
    used = {i for n in model.graph.node for i in n.input}
    for init in [i for i in model.graph.initializer if i.name not in used]:
        model.graph.initializer.remove(init)  # zero points of the per-tensor path, unused constants
    onnx.save(model, str(target))
    log.info("per-row activations for %d MatMuls", rewritten)
    return rewritten


def unfuse_attention(source: Path, target: Path) -> int:
    """Attention(x, W, b, mask) -> MatMul(x, W) + Split + MultiHeadAttention(q, k, v, b, mask); exact in fp32."""
    model = onnx.load(str(source))
    inits = {init.name: init for init in model.graph.initializer}
    count = 0
    for node in [n for n in model.graph.node if n.op_type == "Attention"]:
        x, weight, bias = node.input[0], node.input[1], node.input[2]
        mask = node.input[3] if len(node.input) > 3 else ""
        heads = next(a.i for a in node.attribute if a.name == "num_heads")
        d = inits[weight].dims[1] // 3
        b = node.name
        split = _const(model, f"{b}_split_sizes", np.array([d, d, d], np.int64))
        new = [
            helper.make_node("MatMul", [x, weight], [f"{b}_qkv"], name=f"{b}_qkv_MatMul"),
            helper.make_node("Split", [f"{b}_qkv", split], [f"{b}_q", f"{b}_k", f"{b}_v"], axis=-1, name=f"{b}_split"),
            helper.make_node(
                "MultiHeadAttention",
                [f"{b}_q", f"{b}_k", f"{b}_v", bias, mask],
                list(node.output),
                domain="com.microsoft",
                num_heads=heads,
                name=f"{b}_mha",
            ),
        ]
        index = list(model.graph.node).index(node)
        model.graph.node.remove(node)
        for offset, extra in enumerate(new):
            model.graph.node.insert(index + offset, extra)
        count += 1
    onnx.save(model, str(target))
    return count
