"""Outlier-channel decomposition before dynamic int8 quantization (LLM.int8()-style); shared by research/ studies.

Why: dynamic int8 quantizes each activation tensor with ONE scale, and BERT-family encoders have a
handful of hidden channels ~15x larger than the rest (MiniLM: 99, 63, 223 at the FFN inputs). That
one scale wastes most of the 256 levels on them. We compute those few channels in fp32 through a
tiny side MatMul, and zero them in the int8 path, which then quantizes a ~4x narrower range.
(Dettmers et al., 2022, "LLM.int8()".) SmoothQuant, measured in research/int8_target/, is no
more accurate here and costs 10 % (MiniLM is post-LayerNorm, so its scales need a Mul per input).
onnxruntime has no such pass for dynamic quantization, so it is done here on the fused fp32 graph,
from channel maxima measured on real texts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

__all__ = ["OUTLIER_SUFFIX", "activation_maxima", "split_outliers", "weight_input_values", "weight_inputs"]

log = logging.getLogger(__name__)
OUTLIER_SUFFIX = "_fp32_outliers"  # nodes named so stay fp32 when the graph is quantized


def weight_inputs(model: onnx.ModelProto) -> dict[str, list[onnx.NodeProto]]:
    """Activation tensor -> the encoder's weight MatMuls / Attentions that read it (the head excluded)."""
    inits = {i.name: i for i in model.graph.initializer}
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        weight = inits.get(node.input[1]) if len(node.input) > 1 else None
        is_weight = weight is not None and len(weight.dims) == 2 and not node.input[1].startswith("head")
        if node.op_type in ("MatMul", "Attention") and is_weight and not node.name.startswith("/head"):
            readers.setdefault(node.input[0], []).append(node)
    return readers


def _targets(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [node for nodes in weight_inputs(model).values() for node in nodes if node.op_type == "MatMul"]


def weight_input_values(path: Path, feeds: Iterable[dict[str, np.ndarray]]) -> Iterator[dict[str, np.ndarray]]:
    """Per batch, the real (unpadded) tokens' values of every weight input, ``[tokens, channels]``."""
    model = onnx.load(str(path))
    names = list(weight_inputs(model))
    existing = {o.name for o in model.graph.output}
    model.graph.output.extend(
        helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in names if name not in existing
    )
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    for batch in feeds:
        mask = batch["attention_mask"].astype(bool)
        yield {name: values[mask] for name, values in zip(names, session.run(names, batch))}


def activation_maxima(path: Path, feeds: Iterable[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-channel max |x| of every weight input, over the real (unpadded) tokens."""
    maxima: dict[str, np.ndarray] = {}
    for batch in weight_input_values(path, feeds):
        for name, values in batch.items():
            current = np.abs(values).max(axis=0)
            maxima[name] = np.maximum(maxima[name], current) if name in maxima else current
    return maxima


def split_outliers(
    source: Path, target: Path, maxima: dict[str, np.ndarray], ratio: float = 6.0, max_channels: int = 8
) -> int:
    """Route channels whose max exceeds ``ratio`` x the median channel max through fp32.

    y = (x * keep) @ W  +  x[..., idx] @ W[idx]; the first term is the one int8 will quantize.
    Returns the number of MatMuls rewritten; exact in fp32 (a test checks it).
    """
    model = onnx.load(str(source))
    inits = {init.name: init for init in model.graph.initializer}
    rewritten: list[tuple[onnx.NodeProto, list[onnx.NodeProto], list[onnx.NodeProto]]] = []
    for node in _targets(model):
        x_max = maxima.get(node.input[0])
        if x_max is None:
            continue
        threshold = ratio * float(np.median(x_max))
        idx = np.argsort(-x_max)[:max_channels]
        idx = np.sort(idx[x_max[idx] > threshold]).astype(np.int64)
        if not len(idx):
            continue
        weight = numpy_helper.to_array(inits[node.input[1]])
        keep = np.ones(weight.shape[0], dtype=np.float32)
        keep[idx] = 0.0
        base, x, y = node.name, node.input[0], node.output[0]
        model.graph.initializer.extend(
            [
                numpy_helper.from_array(keep, f"{base}_keep"),
                numpy_helper.from_array(idx, f"{base}_outlier_idx"),
                numpy_helper.from_array(weight[idx].astype(np.float32), f"{base}_outlier_weight"),
            ]
        )
        before = [
            helper.make_node("Mul", [x, f"{base}_keep"], [f"{x}_kept_{base}"], name=f"{base}_keep"),
            helper.make_node(
                "Gather",
                [x, f"{base}_outlier_idx"],
                [f"{x}_outliers_{base}"],
                axis=-1,
                name=f"{base}_gather{OUTLIER_SUFFIX}",
            ),
            helper.make_node(
                "MatMul",
                [f"{x}_outliers_{base}", f"{base}_outlier_weight"],
                [f"{y}_outlier_part"],
                name=f"{base}{OUTLIER_SUFFIX}",
            ),
        ]
        after = [helper.make_node("Add", [f"{y}_int8_part", f"{y}_outlier_part"], [y], name=f"{base}_add")]
        node.input[0] = f"{x}_kept_{base}"
        node.output[0] = f"{y}_int8_part"
        rewritten.append((node, before, after))
    for node, before, after in rewritten:  # keep topological order around each rewritten MatMul
        index = list(model.graph.node).index(node)
        for offset, extra in enumerate(before):
            model.graph.node.insert(index + offset, extra)
        index = list(model.graph.node).index(node)
        for offset, extra in enumerate(after, start=1):
            model.graph.node.insert(index + offset, extra)
    onnx.save(model, str(target))
    log.info("routed outlier channels of %d MatMuls through fp32", len(rewritten))
    return len(rewritten)
