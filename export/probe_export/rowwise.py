"""Per-token int8: activations quantized with one scale per row (token), not one per batch.

Why: onnxruntime's dynamic int8 scales each matmul input by its largest value *in the whole batch*.
In MiniLM the [CLS] token carries values ~3x larger than any other token's (measured:
benchmarks/results/int8_rowwise.md), so one text's quantization depends on which texts it is
batched with, and every other token is quantized coarsely. With one scale per row, a text's
result no longer depends on its batch, and flips against fp32 fell from 2.6 % to 1.4 % on 5,000
SST-2 phrases.

``rowwise_activations`` rewrites a graph made by ``quantize_dynamic`` (per-channel int8 weights): every
``DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(a_scale * w_scale)`` chain becomes, symmetric
(what the exporter ships; x keeps its shape [..., K], so no Reshape is needed):

    s  = max(ReduceMax(x, -1), -ReduceMin(x, -1), tiny) / 127                 # [..., 1], one per row
    q  = QuantizeLinear(x, s, zp, axis=-1, block_size=K)                      # uint8, q + 128, per row
    y  = MatMulIntegerToFloat(q, Wq, s, w_scale, 128)                         # = (q - 128) @ Wq * w_scale * s

Nine nodes per matmul instead of the sixteen of the first version (Reshape to 2-D, per-axis
QuantizeLinear, a separate Mul by the row scale, Reshape back): onnxruntime's MatMulIntegerToFloat
broadcasts a non-scalar ``a_scale`` over its output, so a [..., 1] scale is the per-row product for free,
and opset 21's blocked QuantizeLinear (block = the whole row) quantizes per row without a Reshape.
research/per_token_speed/ measured it against the first version and per-batch int8.
Caution: that kernel multiplies its *bias* input by ``a_scale`` too, so the bias stays a separate Add.

asymmetric (research only: benchmarks/int8_rowwise.py; 2-D, with an explicit zero-point correction):

    x2 = Reshape(x, [-1, K]);  lo = min(ReduceMin(x2, 1), 0);  s = (max(ReduceMax(x2, 1), 0) - lo) / 255
    zp = round(-lo / s);  q = QuantizeLinear(x2, s, zp, axis=0)
    y  = Reshape((MatMulIntegerToFloat(q, Wq, 1, w_scale) * s[:, None] - (zp * s)[:, None] * colsum(Wq * w_scale)),
                 [*Shape(x)[:-1], N])

Hand-built because onnxruntime's quantizer has no per-row dynamic mode, and its CPU MatMulInteger
refuses a per-row ``a_zero_point`` (``IsScalarOr1ElementVector``) although the ONNX spec allows it;
hence the zero point 128 (symmetric) or the explicit correction (asymmetric). The fused QAttention has
one input scale, so ``unfuse_attention`` first turns each Attention into a weight MatMul (which then
gets per-row activations) + Split + fp32 MultiHeadAttention. onnxruntime's int8 x int8
MatMulIntegerToFloat is ~35x slower than uint8 x int8 on this CPU, so the symmetric form stores
q + 128 as uint8 with a scalar zero point 128.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["rowwise_activations", "unfuse_attention"]

log = logging.getLogger(__name__)

# Blocked QuantizeLinear (a block = a whole row) arrived in opset 21. From 20 (the exporter's opset,
# probe_export.graph.OPSET) to 21 only types were added, except GroupNormalization, which BERT-like graphs
# do not have; a graph with it, or below opset 20, is refused rather than silently re-interpreted.
_BLOCKED_QUANTIZE_OPSET = 21
_CHANGED_IN_21 = {"GroupNormalization"}


@dataclass(frozen=True)
class _Chain:
    """One ``DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul`` chain of ``quantize_dynamic``."""

    dql: onnx.NodeProto
    matmul: onnx.NodeProto
    cast: onnx.NodeProto
    mul: onnx.NodeProto
    w_scale: str  # per-channel weight scales (an initializer)

    @property
    def x(self) -> str:
        return str(self.dql.input[0])

    @property
    def y(self) -> str:
        return str(self.mul.output[0])


class _Builder:
    """Adds constants to ``model`` (once each) and names new nodes after the matmul they replace."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.names = {i.name for i in model.graph.initializer}

    def const(self, name: str, value: np.ndarray) -> str:
        if name not in self.names:
            self.model.graph.initializer.append(numpy_helper.from_array(value, name))
            self.names.add(name)
        return name

    def reduce(self, op: str, x: str, y: str, axis: int, keepdims: int) -> onnx.NodeProto:
        """``op`` over one axis; opset >= 18 (axes as an input), which every graph rewritten here has."""
        return helper.make_node(
            op, [x, self.const(f"rowwise_axis{axis}", np.array([axis], np.int64))], [y], keepdims=keepdims
        )


def _opset(model: onnx.ModelProto) -> onnx.OperatorSetIdProto:
    return next(o for o in model.opset_import if o.domain in ("", "ai.onnx"))


def _chains(model: onnx.ModelProto, only: Callable[[str], bool] | None) -> list[_Chain]:
    """Every quantized matmul chain (whose node name ``only`` accepts); weights must be symmetric int8."""
    nodes = list(model.graph.node)
    producer = {out: n for n in nodes for out in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    inits = {i.name: i for i in model.graph.initializer}
    chains = []
    for mm in nodes:
        dql = producer.get(mm.input[0]) if mm.op_type == "MatMulInteger" else None
        if dql is None or dql.op_type != "DynamicQuantizeLinear" or (only is not None and not only(mm.name)):
            continue
        if len(mm.input) > 3 and mm.input[3] and numpy_helper.to_array(inits[mm.input[3]]).any():
            raise ValueError(f"{mm.name}: per-token rewrite needs symmetric int8 weights (zero point 0)")
        (cast,) = consumers[mm.output[0]]
        (mul,) = consumers[cast.output[0]]
        scales = producer[next(i for i in mul.input if i != cast.output[0])]  # Mul(a_scale, w_scale)
        chains.append(_Chain(dql, mm, cast, mul, next(i for i in scales.input if i in inits)))
    return chains


def _symmetric(b: _Builder, chain: _Chain, weight: np.ndarray, levels: int = 127) -> list[onnx.NodeProto]:
    """The nine nodes of the symmetric per-row form (module docstring), on x of any rank >= 2.

    ``levels``: the largest |q| (127: 8-bit activations stored as q + 128; 63: 7-bit, stored as q + 64)."""
    k = int(weight.shape[0])
    p = chain.matmul.name + "_rowwise/"
    offset = np.array(levels + 1, np.uint8)
    hi, lo, s, zp = p + "hi", p + "lo", p + "s", p + "zp"
    return [
        b.reduce("ReduceMax", chain.x, hi, -1, keepdims=1),
        b.reduce("ReduceMin", chain.x, lo, -1, keepdims=1),
        helper.make_node("Neg", [lo], [p + "neg"]),
        helper.make_node("Max", [hi, p + "neg", b.const("rowwise_tiny", np.array(1e-8, np.float32))], [p + "amax"]),
        helper.make_node("Mul", [p + "amax", b.const(f"rowwise_inv{levels}", np.array(1 / levels, np.float32))], [s]),
        helper.make_node("Shape", [s], [p + "rows"]),
        helper.make_node("ConstantOfShape", [p + "rows"], [zp], value=numpy_helper.from_array(offset.reshape(1))),
        helper.make_node("QuantizeLinear", [chain.x, s, zp], [p + "q"], axis=-1, block_size=k),
        helper.make_node(
            "MatMulIntegerToFloat",
            [p + "q", chain.matmul.input[1], s, chain.w_scale, b.const(f"rowwise_zp{offset}", offset)],
            [chain.y],
            domain="com.microsoft",
        ),
    ]


def _asymmetric(b: _Builder, chain: _Chain, weight: np.ndarray, w_scale: np.ndarray) -> list[onnx.NodeProto]:
    """The asymmetric per-row form (module docstring): 2-D, with the zero-point correction made explicit."""
    k, n_out = (int(d) for d in weight.shape)
    p = chain.matmul.name + "_rowwise/"
    x2, s, zp, z = p + "x2", p + "s", p + "zp", p + "z"
    zero = b.const("rowwise_zero", np.array(0.0, np.float32))
    colsum = (weight.astype(np.float64).sum(0) * w_scale.astype(np.float64)).astype(np.float32)
    return [
        helper.make_node("Reshape", [chain.x, b.const(p + "k", np.array([-1, k], np.int64))], [x2]),
        b.reduce("ReduceMax", x2, p + "hi", 1, keepdims=0),
        b.reduce("ReduceMin", x2, p + "lo", 1, keepdims=0),
        helper.make_node("Max", [p + "hi", zero], [p + "hi0"]),
        helper.make_node("Min", [p + "lo", zero], [p + "lo0"]),
        helper.make_node("Sub", [p + "hi0", p + "lo0"], [p + "range"]),
        helper.make_node("Mul", [p + "range", b.const("rowwise_inv255", np.array(1 / 255.0, np.float32))], [p + "s0"]),
        helper.make_node("Max", [p + "s0", b.const("rowwise_tiny", np.array(1e-8, np.float32))], [s]),
        helper.make_node("Div", [p + "lo0", s], [p + "los"]),
        helper.make_node("Neg", [p + "los"], [p + "nlos"]),
        helper.make_node("Round", [p + "nlos"], [p + "zpf"]),
        helper.make_node("Cast", [p + "zpf"], [zp], to=TensorProto.UINT8),
        helper.make_node("QuantizeLinear", [x2, s, zp], [p + "q"], axis=0),
        helper.make_node(
            "MatMulIntegerToFloat",
            [p + "q", chain.matmul.input[1], b.const("rowwise_one", np.array(1.0, np.float32)), chain.w_scale],
            [z],
            domain="com.microsoft",
        ),
        helper.make_node("Unsqueeze", [s, b.const("rowwise_axis1", np.array([1], np.int64))], [p + "s1"]),
        helper.make_node("Cast", [zp], [p + "zpf1"], to=TensorProto.FLOAT),
        helper.make_node("Mul", [p + "zpf1", s], [p + "zps"]),
        helper.make_node("Unsqueeze", [p + "zps", "rowwise_axis1"], [p + "zps1"]),
        helper.make_node("Mul", [p + "zps1", b.const(p + "colsum", colsum)], [p + "corr"]),
        helper.make_node("Mul", [z, p + "s1"], [p + "zs"]),
        helper.make_node("Sub", [p + "zs", p + "corr"], [p + "y2"]),
        helper.make_node("Shape", [chain.x], [p + "lead"], end=-1),
        helper.make_node("Concat", [p + "lead", b.const(p + "n", np.array([n_out], np.int64))], [p + "shape"], axis=0),
        helper.make_node("Reshape", [p + "y2", p + "shape"], [chain.y]),
    ]


def _use_blocked_quantize(model: onnx.ModelProto) -> None:
    """Raise the default-domain opset to 21 (blocked QuantizeLinear); see `_BLOCKED_QUANTIZE_OPSET`."""
    opset = _opset(model)
    changed = _CHANGED_IN_21 & {n.op_type for n in model.graph.node}
    if opset.version < 20 or (opset.version < _BLOCKED_QUANTIZE_OPSET and changed):
        raise ValueError(
            f"per-token int8 needs an opset-20 graph without {sorted(_CHANGED_IN_21)}; got {opset.version}"
        )
    opset.version = max(opset.version, _BLOCKED_QUANTIZE_OPSET)


def _prune(model: onnx.ModelProto) -> None:
    """Drop what the rewrite left unused: the a_scale * w_scale products, per-tensor zero points, constants."""
    outputs = {o.name for o in model.graph.output}
    while True:
        used = {i for n in model.graph.node for i in n.input} | outputs
        dead = [n for n in model.graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for node in dead:
            model.graph.node.remove(node)
    used = {i for n in model.graph.node for i in n.input}
    for init in [i for i in model.graph.initializer if i.name not in used]:
        model.graph.initializer.remove(init)


def rowwise_activations(
    source: Path,
    target: Path,
    symmetric: bool = False,
    only: Callable[[str], bool] | None = None,
    levels: int = 127,
) -> int:
    """Per-row (per-token) activation quantization for every quantized MatMul (or those whose node name
    ``only`` accepts); returns how many. ``levels``: the symmetric form's largest |q| (`_symmetric`)."""
    model = onnx.load(str(source))
    chains = _chains(model, only)
    if symmetric and chains:
        _use_blocked_quantize(model)
    b = _Builder(model)
    inits = {i.name: i for i in model.graph.initializer}
    for chain in chains:
        weight = numpy_helper.to_array(inits[chain.matmul.input[1]])
        if symmetric:
            new = _symmetric(b, chain, weight, levels)
        else:
            new = _asymmetric(b, chain, weight, numpy_helper.to_array(inits[chain.w_scale]))
        for i, node in enumerate(new):
            node.name = f"{chain.matmul.name}_rowwise/{i}_{node.op_type}"
        index = list(model.graph.node).index(chain.matmul)
        for offset, node in enumerate(new):
            model.graph.node.insert(index + offset, node)
        for node in (chain.matmul, chain.cast, chain.mul):
            model.graph.node.remove(node)
    _prune(model)  # the DynamicQuantizeLinears no chain reads any more, among others
    onnx.save(model, str(target))
    log.info("per-row activations for %d MatMuls", len(chains))
    return len(chains)


def _attention_bias(node: onnx.NodeProto) -> str:
    """The ``attention_bias`` input (index 5) of an ``Attention`` node, or "" (`probe_export.fusions`)."""
    return str(node.input[5]) if len(node.input) > 5 else ""


def unfuse_attention(source: Path, target: Path, only_biased: bool = False) -> int:
    """Attention(x, W, b, mask, -, bias) -> MatMul(x, W) + Split + MultiHeadAttention(q, k, v, b, mask, bias);
    exact in fp32. ``only_biased``: only the nodes with an ``attention_bias`` (which ``QAttention`` lacks)."""
    model = onnx.load(str(source))
    inits = {init.name: init for init in model.graph.initializer}
    consts = _Builder(model)
    count = 0
    for node in [n for n in model.graph.node if n.op_type == "Attention"]:
        if only_biased and not _attention_bias(node):
            continue
        unknown = {a.name for a in node.attribute} - {"num_heads", "scale", "mask_filter_value"}
        if (len(node.input) > 4 and node.input[4]) or unknown:
            raise ValueError(f"{node.name}: cannot unfuse an Attention with past state or {sorted(unknown)}")
        x, weight, bias = node.input[0], node.input[1], node.input[2]
        mask = node.input[3] if len(node.input) > 3 else ""
        attention_bias = [_attention_bias(node)] if _attention_bias(node) else []
        kept = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name != "num_heads"}
        heads = next(a.i for a in node.attribute if a.name == "num_heads")
        d = inits[weight].dims[1] // 3
        b = node.name
        split = consts.const(f"{b}_split_sizes", np.array([d, d, d], np.int64))
        new = [
            helper.make_node("MatMul", [x, weight], [f"{b}_qkv"], name=f"{b}_qkv_MatMul"),
            helper.make_node("Split", [f"{b}_qkv", split], [f"{b}_q", f"{b}_k", f"{b}_v"], axis=-1, name=f"{b}_split"),
            helper.make_node(
                "MultiHeadAttention",
                [f"{b}_q", f"{b}_k", f"{b}_v", bias, mask, *attention_bias],
                list(node.output),
                domain="com.microsoft",
                num_heads=heads,
                name=f"{b}_mha",
                **kept,
            ),
        ]
        index = list(model.graph.node).index(node)
        model.graph.node.remove(node)
        for offset, extra in enumerate(new):
            model.graph.node.insert(index + offset, extra)
        count += 1
    onnx.save(model, str(target))
    return count
