"""Is the integer arithmetic of an int8 graph the same on every x86 CPU? A static bound and an exact reference.

onnxruntime's u8 x s8 GEMM (MLAS) runs on whatever the CPU has: AMX (``TDPBUSD``) and AVX-512 VNNI
(``VPDPBUSD``) add u8 x s8 products into int32 exactly, but AVX2 and AVX-512 without VNNI first add each
pair of adjacent products into a *saturating int16* (``VPMADDUBSW``). Where ``a0*b0 + a1*b1`` can pass
32,767 the result depends on the CPU: 255 x 127 x 2 = 64,770 can, which is why an 8-bit-weight file exported
on a VNNI machine answered differently on an AVX2 one (issue 26). u8 x u8 products are widened to int16
before they are multiplied (``VPMADDWD``) and never saturate.

- `saturation_report`: reads the graph only. For every integer matmul it bounds the raw u8 activation (the
  stored byte, zero point included: the kernel multiplies those and subtracts the zero point afterwards) and
  the largest |weight|, and reports the worst pair sum any input could produce. ``exact`` means no input can
  saturate any kernel, so the integer part of every matmul is bit-identical on every x86 CPU and only fp32
  rounding (~1e-7 relative) can differ.
- `integer_matmul_error`: runs the graph on real inputs with each integer matmul's operands exposed and
  recomputes the matmul exactly in numpy (int64): the largest relative error onnxruntime makes *on this CPU*.
  It is ~1e-7 (float conversion) where the kernel is exact and orders of magnitude more where it saturates, so
  a test that asserts it on whatever machine runs it checks cross-CPU equality against a reference that does
  not depend on the CPU.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

__all__ = ["INT16_MAX", "SaturationReport", "integer_matmul_error", "pair_saturating_matmul", "saturation_report"]

INT16_MAX = 32767
# Integer matmuls whose u8 activations are quantized inside the kernel from floats (any byte 0..255 can occur).
_FLOAT_INPUT_OPS = {"DynamicQuantizeMatMul", "QAttention"}
_INTEGER_INPUT_OPS = {"MatMulInteger", "MatMulIntegerToFloat"}


@dataclass(frozen=True)
class SaturationReport:
    """The integer matmuls of a graph and the largest pair sum ``a0*b0 + a1*b1`` their inputs allow."""

    nodes: int
    worst_pair_sum: int
    worst_node: str

    @property
    def exact(self) -> bool:
        """No input can saturate the int16 pair sums of AVX2 / AVX-512 kernels: the same integers everywhere."""
        return self.worst_pair_sum <= INT16_MAX


def _scalar(inits: dict[str, np.ndarray], name: str) -> float | None:
    value = inits.get(name)
    return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None


def _activation_max(node: onnx.NodeProto, producer: dict[str, onnx.NodeProto], inits: dict[str, np.ndarray]) -> int:
    """The largest raw u8 byte the activation input of ``node`` can hold (255 unless the graph bounds it).

    The bound the exporter's per-row form gives (`probe_export.rowwise`): ``QuantizeLinear(x, s, zp)`` with
    ``s = max|x| * (1 / L)`` stores ``round(x / s) + zp`` in ``zp - L .. zp + L``.
    """
    if node.op_type in _FLOAT_INPUT_OPS:
        return 255
    quantize = producer.get(node.input[0])
    if quantize is None or quantize.op_type != "QuantizeLinear" or len(quantize.input) < 3:
        return 255
    scale, zero = producer.get(quantize.input[1]), producer.get(quantize.input[2])
    if scale is None or scale.op_type != "Mul" or zero is None or zero.op_type != "ConstantOfShape":
        return 255
    inverse = next((v for v in (_scalar(inits, i) for i in scale.input) if v is not None), None)
    zero_value = next((a.t for a in zero.attribute if a.name == "value"), None)
    if inverse is None or inverse <= 0 or zero_value is None:
        return 255
    levels = round(1 / inverse)
    return min(255, int(numpy_helper.to_array(zero_value).reshape(-1)[0]) + levels)


def _weight(node: onnx.NodeProto, inits: dict[str, np.ndarray]) -> np.ndarray | None:
    return inits.get(node.input[1])


def saturation_report(model: onnx.ModelProto) -> SaturationReport:
    """The worst pair sum of every integer matmul in ``model`` (module docstring); u8 weights never saturate."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    producer = {out: n for n in model.graph.node for out in n.output}
    worst, worst_node, count = 0, "", 0
    for node in model.graph.node:
        if node.op_type not in _FLOAT_INPUT_OPS | _INTEGER_INPUT_OPS:
            continue
        count += 1
        weight = _weight(node, inits)
        if weight is None:  # weights computed at run time: any byte
            pair = 2 * 255 * 128
        elif weight.dtype == np.uint8:
            pair = 0  # u8 x u8: widened before multiplying, exact on every kernel
        else:
            pair = 2 * _activation_max(node, producer, inits) * int(np.abs(weight.astype(np.int32)).max())
        if pair > worst:
            worst, worst_node = pair, node.name
    return SaturationReport(nodes=count, worst_pair_sum=worst, worst_node=worst_node)


def pair_saturating_matmul(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``a @ w`` (u8 activations [M, K], s8 weights [K, N]) as AVX2's ``VPMADDUBSW`` computes it: each pair of
    adjacent products along K summed into an int16 that saturates at ±32,767, then the pairs added in int32. Equal to
    the exact product exactly when no pair saturates: how a test shows, on any CPU, what an AVX2 CPU would compute."""
    a16, w16 = a.astype(np.int64), w.astype(np.int64)
    if a16.shape[1] % 2:  # the kernel pads K with zeros
        a16, w16 = np.pad(a16, ((0, 0), (0, 1))), np.pad(w16, ((0, 1), (0, 0)))
    pairs = a16[:, 0::2, None] * w16[None, 0::2, :] + a16[:, 1::2, None] * w16[None, 1::2, :]  # [M, K/2, N]
    return np.clip(pairs, -INT16_MAX - 1, INT16_MAX).sum(axis=1)


def _exposed(model: onnx.ModelProto) -> tuple[onnx.ModelProto, list[onnx.NodeProto]]:
    """A copy of ``model`` whose integer-input matmuls' computed operands (activations, row scales) and outputs are
    graph outputs too."""
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    nodes = [n for n in exposed.graph.node if n.op_type in _INTEGER_INPUT_OPS]
    have = {o.name for o in exposed.graph.output} | {i.name for i in exposed.graph.initializer}
    for node in nodes:
        for name in (*node.input, node.output[0]):
            if name and name not in have:
                exposed.graph.output.append(helper.make_empty_tensor_value_info(name))
                have.add(name)
    return exposed, nodes


def _input(node: onnx.NodeProto, index: int) -> str:
    return str(node.input[index]) if len(node.input) > index else ""


def _integer_product(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``a @ w`` of integer matrices, exactly: in float64, whose 53-bit mantissa holds every partial sum of u8 x s8
    products up to K = 2**53 / 255 / 255 (far beyond any encoder's width), so BLAS gives the exact integers."""
    if a.shape[-1] * 255 * 255 >= 2**53:
        raise ValueError(f"an inner dimension of {a.shape[-1]} is too wide for an exact float64 product")
    return a.astype(np.float64) @ w.astype(np.float64)


def _exact(node: onnx.NodeProto, values: dict[str, np.ndarray], inits: dict[str, np.ndarray]) -> np.ndarray:
    """``node``'s output computed exactly (integers held in float64, `_integer_product`) from its real operands."""

    def get(index: int, default: float | int = 0) -> np.ndarray:
        name = _input(node, index)
        if not name:
            return np.asarray(default)
        return inits[name] if name in inits else values[name]

    a = values[node.input[0]].astype(np.int64)
    w = inits[node.input[1]].astype(np.int64)
    if node.op_type == "MatMulInteger":
        return _integer_product(a - get(2).astype(np.int64), w - get(3).astype(np.int64))
    # MatMulIntegerToFloat(A, B, a_scale, b_scale, a_zero_point, b_zero_point, bias)
    product = _integer_product(a - get(4).astype(np.int64), w - get(5).astype(np.int64))
    y = product * get(2, 1.0).astype(np.float64) * get(3, 1.0).astype(np.float64)
    return y + get(6).astype(np.float64)


def integer_matmul_error(path: str | Path, feeds: Iterable[dict[str, np.ndarray]]) -> float:
    """The largest relative error (max |ort - exact| / max |exact|, per node and batch) of the graph's
    integer matmuls on this CPU, over the batches ``feeds`` (module docstring). 0.0 when it has none."""
    import onnxruntime as ort

    model = onnx.load(str(path))
    exposed, nodes = _exposed(model)
    if not nodes:
        return 0.0
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    session = ort.InferenceSession(exposed.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    worst = 0.0
    for feed in feeds:
        values = dict(zip(names, session.run(names, feed)))
        for node in nodes:
            exact = _exact(node, values, inits)
            scale = float(np.abs(exact).max()) or 1.0
            worst = max(worst, float(np.abs(values[node.output[0]].astype(np.float64) - exact).max()) / scale)
    return worst
