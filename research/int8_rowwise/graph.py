"""Graph rewrites for research/int8_rowwise/study.py: outlier channel splitting.

``rowwise_activations`` and ``unfuse_attention`` live in ``probe_export.rowwise`` (the exporter's
``--quantize int8-per-token`` uses them); this module adds the study-only rewrite below.

``split_channels`` is outlier channel splitting (Zhao et al., 2019) on the fused fp32 graph, before
quantization: input channel c whose max |x| (on calibration texts) exceeds t = ``ratio`` x the median channel
max is split into k = ceil(max_c / t) copies of x_c / k, and weight row c is repeated k times (unscaled), so
the product is unchanged but the per-tensor activation range shrinks:
``x' = Concat(x * f, Gather(x, extra) * f_extra)``, ``W' = W[idx]``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

__all__ = ["SPLIT_SUFFIX", "split_channels"]

log = logging.getLogger(__name__)
SPLIT_SUFFIX = "_ocs"


def split_channels(
    source: Path, target: Path, maxima: dict[str, np.ndarray], ratio: float = 4.0, max_extra: int = 32
) -> dict[str, int]:
    """Split input channels whose max |x| exceeds ``ratio`` x the median channel max, for every MatMul with a
    2-D weight and every fused Attention; returns extra channels per node. Exact in fp32."""
    model = onnx.load(str(source))
    inits = {init.name: init for init in model.graph.initializer}
    rewritten: dict[str, int] = {}
    for node in list(model.graph.node):
        is_matmul = node.op_type == "MatMul" and node.input[1] in inits and len(inits[node.input[1]].dims) == 2
        if not (is_matmul or node.op_type == "Attention") or node.name.startswith("/head"):
            continue
        x_max = maxima.get(node.input[0])
        if x_max is None:
            continue
        limit = ratio * float(np.median(x_max))
        copies = np.ones(len(x_max), np.int64)
        for ch in np.argsort(-x_max):
            if x_max[ch] <= limit or copies.sum() - len(x_max) >= max_extra:
                break
            copies[ch] = min(math.ceil(x_max[ch] / limit), 1 + max_extra - (copies.sum() - len(x_max)))
        if copies.sum() == len(x_max):
            continue
        idx = np.concatenate([np.arange(len(x_max)), np.repeat(np.flatnonzero(copies > 1), copies[copies > 1] - 1)])
        factor = (1.0 / copies[idx]).astype(np.float32)
        weight = numpy_helper.to_array(inits[node.input[1]])
        base, x = node.name, node.input[0]
        new_weight = f"{node.input[1]}{SPLIT_SUFFIX}_{len(rewritten)}"
        model.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(weight[idx]), new_weight))
        # x' = Concat(x * factor[:K], x[..., extra] * factor[K:]): a full-width Gather on the last axis is
        # ~3x slower in onnxruntime than this Mul + small Gather + Concat.
        extra = idx[len(x_max) :]
        model.graph.initializer.extend(
            [
                numpy_helper.from_array(factor[: len(x_max)], f"{base}{SPLIT_SUFFIX}_keep"),
                numpy_helper.from_array(extra.astype(np.int64), f"{base}{SPLIT_SUFFIX}_extra"),
                numpy_helper.from_array(factor[len(x_max) :], f"{base}{SPLIT_SUFFIX}_extra_factor"),
            ]
        )
        parts = [f"{x}_scaled_{base}", f"{x}_extra_{base}", f"{x}_extra_scaled_{base}"]
        before = [
            helper.make_node("Mul", [x, f"{base}{SPLIT_SUFFIX}_keep"], [parts[0]], name=f"{base}_split_keep"),
            helper.make_node(
                "Gather", [x, f"{base}{SPLIT_SUFFIX}_extra"], [parts[1]], axis=-1, name=f"{base}_split_gather"
            ),
            helper.make_node(
                "Mul", [parts[1], f"{base}{SPLIT_SUFFIX}_extra_factor"], [parts[2]], name=f"{base}_split_extra"
            ),
            helper.make_node(
                "Concat", [parts[0], parts[2]], [f"{x}{SPLIT_SUFFIX}_{base}"], axis=-1, name=f"{base}_split_concat"
            ),
        ]
        node.input[0], node.input[1] = f"{x}{SPLIT_SUFFIX}_{base}", new_weight
        index = list(model.graph.node).index(node)
        for offset, extra in enumerate(before):
            model.graph.node.insert(index + offset, extra)
        rewritten[base] = int(len(idx) - len(x_max))
    used = {i for n in model.graph.node for i in n.input}
    for init in [i for i in model.graph.initializer if i.name not in used]:
        model.graph.initializer.remove(init)  # the original weights of the rewritten nodes
    onnx.save(model, str(target))
    log.info("split outlier channels of %d nodes", len(rewritten))
    return rewritten
