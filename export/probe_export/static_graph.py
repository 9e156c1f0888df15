"""The static encoder's ONNX graph: token ids → table lookup → weighted mean over the mask → (L2) → head → softmax
(or a sigmoid per label: a multi-label head).

Same inputs (``input_ids``, ``attention_mask``) and outputs (``probabilities``, ``embeddings``) as the transformer
artifacts, so the runtime loads, checks, batches and serves it with nothing new.

Built node by node with ``onnx.helper`` rather than traced with ``torch.onnx.export``: the graph is a dozen ops,
and the int8 form (below) is a storage choice the tracer cannot express, while onnxruntime's quantizer only
quantizes the inputs of MatMul/Gemm-like ops (a Gather's table stays fp32 under ``quantize_dynamic``).

Precision. The table is nearly all of the file (MiniLM: 30,522 x 256 floats = 31 MB). ``int8`` stores each row
as int8 with its own fp32 scale (symmetric, max |v| → 127); the graph casts the gathered rows back to float and
folds the row scale into the pooling weight, so activations stay fp32: the answers do not depend on the batch
or the CPU's int8 kernels (there is no int8 arithmetic at all), and the file is a quarter of the size. The
manifest says so with its own precision, ``Quantization.INT8_TABLE`` (`write_static_artifact` records it, and the
encoder's kind and size, from the graph it writes).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from probe_runtime.artifact import (
    EMBEDDINGS_NAME,
    OUTPUT_NAME,
    EncoderKind,
    EncoderRecord,
    Manifest,
    Quantization,
    Task,
)

from .writer import write_artifact

__all__ = [
    "STATIC_INPUTS",
    "StaticHead",
    "int8_rows",
    "static_graph",
    "static_graph_bytes",
    "write_static_artifact",
]

OPSET = 20  # as the transformer graphs (`probe_export.graph.OPSET`; not imported: that module imports torch)
STATIC_INPUTS = ["input_ids", "attention_mask"]  # no token types: a static table has no segments
_EPS = 1e-9  # pooling denominator floor, as `probe_train.static_encoder.pool_static`
_NORM_EPS = 1e-12  # torch.nn.functional.normalize's


@dataclass(frozen=True)
class StaticHead:
    """What sits on the table: the linear head (``[n_labels, dims]``, ``[n_labels]``), whether the pooled vector
    is L2-normalised first, the temperature the logits are divided by (1.0: no node), and whether the labels are
    independent (``multi_label``: a sigmoid per label instead of a softmax over them)."""

    weight: np.ndarray
    bias: np.ndarray
    normalize: bool = False
    temperature: float = 1.0
    multi_label: bool = False


def int8_rows(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-row int8: (int8 ``[vocab, dims]``, float32 scales ``[vocab]``), ``vectors ≈ q * scale``.

    A zero row gets scale 1 (and stays zero), so no division by zero and no NaN in the file.
    """
    peak = np.abs(vectors).max(axis=1)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(vectors / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def _const(name: str, value: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def _pooling_nodes(int8: bool) -> list[onnx.NodeProto]:
    """ids, mask → ``pooled`` (the weighted mean). ``row_weight`` is w (fp32) or w * scale (int8)."""
    make = helper.make_node
    nodes = [
        make("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        make("Gather", ["token_weight", "input_ids"], ["w"], axis=0),
        make("Mul", ["w", "mask_f"], ["wm"]),  # [B, S]
        make("ReduceSum", ["wm", "axis_1"], ["den_raw"], keepdims=1),  # [B, 1]
        make("Max", ["den_raw", "eps"], ["den"]),
        make("Gather", ["table", "input_ids"], ["rows_stored"], axis=0),  # [B, S, D]
    ]
    if int8:
        nodes += [
            make("Cast", ["rows_stored"], ["rows"], to=TensorProto.FLOAT),
            make("Gather", ["row_scale", "input_ids"], ["s"], axis=0),
            make("Mul", ["wm", "s"], ["coef"]),
        ]
    else:
        nodes += [make("Identity", ["rows_stored"], ["rows"]), make("Identity", ["wm"], ["coef"])]
    nodes += [
        make("Unsqueeze", ["coef", "axis_1"], ["coef_row"]),  # [B, 1, S]
        make("MatMul", ["coef_row", "rows"], ["sum_3d"]),  # [B, 1, D]
        make("Squeeze", ["sum_3d", "axis_1"], ["sum"]),
        make("Div", ["sum", "den"], ["pooled"]),
    ]
    return nodes


def _head_nodes(head: StaticHead) -> list[onnx.NodeProto]:
    """``pooled`` → ``embeddings`` (after the optional L2) and ``probabilities``."""
    make = helper.make_node
    nodes = []
    if head.normalize:
        nodes += [
            make("ReduceL2", ["pooled", "axis_1"], ["norm_raw"], keepdims=1),
            make("Max", ["norm_raw", "norm_eps"], ["norm"]),
            make("Div", ["pooled", "norm"], [EMBEDDINGS_NAME]),
        ]
    else:
        nodes.append(make("Identity", ["pooled"], [EMBEDDINGS_NAME]))
    nodes.append(make("Gemm", [EMBEDDINGS_NAME, "head_weight", "head_bias"], ["logits_raw"], transB=1))
    if head.temperature != 1.0:
        nodes.append(make("Div", ["logits_raw", "temperature"], ["logits"]))
    else:
        nodes.append(make("Identity", ["logits_raw"], ["logits"]))
    if head.multi_label:
        nodes.append(make("Sigmoid", ["logits"], [OUTPUT_NAME]))
    else:
        nodes.append(make("Softmax", ["logits"], [OUTPUT_NAME], axis=-1))
    return nodes


def static_graph(vectors: np.ndarray, weights: np.ndarray, head: StaticHead, int8: bool = False) -> onnx.ModelProto:
    """The checked ONNX model of a static classifier (see the module doc); ``int8`` stores the table per-row int8."""
    vectors = np.asarray(vectors, dtype=np.float32)
    weights = np.asarray(weights, dtype=np.float32)
    n_labels, dims = np.asarray(head.weight).shape
    if vectors.shape != (len(weights), dims):
        raise ValueError(f"table {vectors.shape}, weights {weights.shape} and head {head.weight.shape} do not fit")
    init = [
        _const("token_weight", weights),
        _const("axis_1", np.array([1], dtype=np.int64)),
        _const("eps", np.array(_EPS, dtype=np.float32)),
        _const("norm_eps", np.array(_NORM_EPS, dtype=np.float32)),
        _const("head_weight", np.asarray(head.weight, dtype=np.float32)),
        _const("head_bias", np.asarray(head.bias, dtype=np.float32)),
        _const("temperature", np.array(head.temperature, dtype=np.float32)),
    ]
    if int8:
        q, scale = int8_rows(vectors)
        init += [_const("table", q), _const("row_scale", scale)]
    else:
        init.append(_const("table", vectors))
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"]) for n in STATIC_INPUTS]
    outputs = [
        helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", n_labels]),
        helper.make_tensor_value_info(EMBEDDINGS_NAME, TensorProto.FLOAT, ["batch", dims]),
    ]
    nodes = _pooling_nodes(int8) + _head_nodes(head)
    used = {i for node in nodes for i in node.input}
    graph = helper.make_graph(nodes, "probe_static", inputs, outputs, [t for t in init if t.name in used])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="probe")
    model.ir_version = 10  # onnxruntime >= 1.19 reads it (probe_runtime.compat checks at load)
    onnx.checker.check_model(model, full_check=True)
    return model


def static_graph_bytes(vectors: np.ndarray, weights: np.ndarray, head: StaticHead, int8: bool = False) -> bytes:
    """`static_graph`, serialized (what onnxruntime and the artifact writer take)."""
    return static_graph(vectors, weights, head, int8).SerializeToString()


def write_static_artifact(model: onnx.ModelProto, manifest: Manifest, tokenizer_json: str, out: Path) -> Path:
    """Seal ``model`` with ``manifest`` into the one-file artifact at ``out``, through the exporter's own writer
    (`probe_export.writer.write_artifact`: the runtime's checks on the very bytes written, atomic replace).

    The graph decides what the manifest says of it: its precision (``int8-table`` when the table is stored int8,
    else ``none``) and the encoder record (kind static, the table's size; ``distilled_from`` the manifest's base
    encoder unless the caller recorded more); a multi-label manifest needs a sigmoid head and the reverse.
    The writer reads a graph file, so the model goes through a scratch file first.
    """
    manifest = _described(model, manifest)
    with tempfile.TemporaryDirectory(prefix="probe-static-") as tmp:
        graph = Path(tmp) / "static.onnx"
        onnx.save(model, str(graph))
        return write_artifact(graph, manifest, tokenizer_json, Path(out))


def _described(model: onnx.ModelProto, manifest: Manifest) -> Manifest:
    """``manifest`` with the precision and encoder record the static ``model`` has (see `write_static_artifact`)."""
    tensors = {t.name: t for t in model.graph.initializer}
    sigmoid = any(node.op_type == "Sigmoid" and OUTPUT_NAME in node.output for node in model.graph.node)
    if sigmoid != (manifest.task is Task.MULTI_LABEL):
        head = "a sigmoid (multi-label)" if sigmoid else "a softmax (single-label)"
        raise ValueError(f"the graph has {head} head but the manifest's task is {manifest.task}")
    vocab, dims = (int(d) for d in tensors["table"].dims)
    encoder = manifest.encoder or EncoderRecord(EncoderKind.STATIC, distilled_from=manifest.base_encoder)
    encoder = replace(encoder, kind=EncoderKind.STATIC, dims=dims, vocab=vocab)
    precision = Quantization.INT8_TABLE if "row_scale" in tensors else Quantization.NONE
    return replace(manifest, quantization=precision, encoder=encoder)
