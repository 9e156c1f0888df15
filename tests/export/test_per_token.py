"""`--quantize int8-per-token`: activations scaled per token, so a text's result does not depend on its batch."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import synthetic_rows
from onnx import TensorProto, helper, numpy_helper
from probe_export.cli import main
from probe_export.graph import quantize_int8
from probe_runtime import Classifier


@pytest.fixture(scope="module")
def per_token_model(tiny_trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("per-token") / "m.onnx"
    args = [
        "export",
        str(tiny_trained),
        "--out",
        str(out),
        "--quantize",
        "int8-per-token",
        "--max-flip-rate",
        "100",
        "--significance",
        "0",
    ]
    assert main(args) == 0
    return out


def _texts() -> list[str]:
    short = [text for text, _ in synthetic_rows(60, seed=5)]
    return short + [" ".join(short[i : i + 6]) for i in range(0, 60, 6)]  # varied lengths, so batches pad


def test_a_texts_probabilities_do_not_depend_on_the_texts_it_is_batched_with(per_token_model):
    clf = Classifier.load(per_token_model, threads=1)
    texts = _texts()
    batched = clf.predict_proba(texts)
    alone = np.stack([clf.predict_proba(text) for text in texts])
    reversed_batch = clf.predict_proba(texts[::-1], max_tokens=64)[::-1]
    np.testing.assert_allclose(alone, batched, atol=1e-5)
    np.testing.assert_allclose(reversed_batch, batched, atol=1e-5)


def test_every_weight_matmul_quantizes_its_input_per_row_and_attention_runs_unfused(per_token_model):
    graph = onnx.load(str(per_token_model)).graph
    ops = Counter(node.op_type for node in graph.node)
    assert ops["MatMulIntegerToFloat"] > 0
    assert ops["QuantizeLinear"] == ops["MatMulIntegerToFloat"]  # one per-row quantization per matmul
    assert ops["MatMulInteger"] == 0 and ops["QAttention"] == 0 and ops["Attention"] == 0
    weights = {i.name: i.dims for i in graph.initializer}
    for quantize, matmul in zip(
        [n for n in graph.node if n.op_type == "QuantizeLinear"],
        [n for n in graph.node if n.op_type == "MatMulIntegerToFloat"],
        strict=True,
    ):
        attrs = {a.name: a.i for a in quantize.attribute}
        # one block = one whole row: the last axis, as long as the weight's input dimension
        assert attrs["axis"] == -1 and attrs["block_size"] == weights[matmul.input[1]][0]
        assert matmul.input[2] == quantize.input[1]  # the kernel multiplies its output by the row scales


def test_the_lean_form_adds_no_reshape_and_at_most_eight_nodes_per_matmul(per_token_model):
    graph = onnx.load(str(per_token_model)).graph
    per_matmul = Counter(n.name.split("_rowwise/")[0] for n in graph.node if "_rowwise/" in n.name)
    assert per_matmul and all(count <= 9 for count in per_matmul.values())  # 8 helpers + the matmul itself
    assert not any(n.op_type == "Reshape" for n in graph.node if "_rowwise/" in n.name)


def _one_matmul_graph(path: Path, weight: np.ndarray, bias: np.ndarray) -> None:
    """y = x @ W + b, then Gelu: the FFN shape whose bias onnxruntime would like to fold into the matmul."""
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["xw"], name="ffn"),
        helper.make_node("Add", ["xw", "b"], ["pre"]),
        helper.make_node("Gelu", ["pre"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "one",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "sequence", weight.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "sequence", weight.shape[1]])],
        [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "b")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), str(path))


def _gelu(x: np.ndarray) -> np.ndarray:
    from math import erf, sqrt

    return x * 0.5 * (1 + np.vectorize(erf)(x / sqrt(2)))


def test_each_row_is_quantized_symmetrically_with_its_own_scale_and_the_bias_is_not_scaled(tmp_path):
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((48, 24)).astype(np.float32)
    bias = rng.standard_normal(24).astype(np.float32)
    _one_matmul_graph(tmp_path / "fp32.onnx", weight, bias)
    quantize_int8(tmp_path / "fp32.onnx", tmp_path / "per-token.onnx", per_token=True)
    x = rng.standard_normal((3, 5, 48)).astype(np.float32)
    x[1, 2] *= 40  # one loud token: with one scale per batch it would coarsen every other row
    session = ort.InferenceSession(str(tmp_path / "per-token.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": x})[0]
    w_scale = np.abs(weight).max(0) / 64  # per output channel, symmetric, 7-bit (-64..64: exact on every CPU)
    wq = np.round(weight / w_scale)
    x_scale = np.abs(x).max(-1, keepdims=True) / 127  # per row
    xq = np.clip(np.round(x / x_scale), -128, 127)
    expected = _gelu((xq @ wq) * w_scale * x_scale + bias)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    alone = session.run(None, {"x": x[:1, :2]})[0]  # a row's result does not depend on the other rows
    np.testing.assert_allclose(alone, got[:1, :2], rtol=0, atol=1e-6)


def test_the_rewrite_refuses_a_graph_below_opset_20(tmp_path):
    rng = np.random.default_rng(1)
    _one_matmul_graph(tmp_path / "fp32.onnx", rng.standard_normal((8, 4)).astype(np.float32), np.zeros(4, np.float32))
    model = onnx.load(str(tmp_path / "fp32.onnx"))
    model.opset_import[0].version = 19
    onnx.save(model, str(tmp_path / "fp32-19.onnx"))
    with pytest.raises(ValueError, match="opset-20"):
        quantize_int8(tmp_path / "fp32-19.onnx", tmp_path / "out.onnx", per_token=True)


def test_it_stays_close_to_fp32_and_is_verified_like_any_int8_file(per_token_model, fp32_model):
    manifest = Classifier.load(per_token_model).manifest
    assert manifest.quantization == "int8-per-token"
    v = manifest.verification
    (candidate,) = v.precision.candidates
    assert candidate.name == "int8-per-token" and candidate.batch_independent is True
    assert candidate.alone_vs_batched_max_abs_diff <= 1e-4
    texts = _texts()
    fp32 = Classifier.load(fp32_model).predict_proba(texts)
    per_token = Classifier.load(per_token_model).predict_proba(texts)
    assert (per_token.argmax(1) == fp32.argmax(1)).mean() >= 0.95
    assert np.abs(per_token - fp32).max() < 0.15  # a wrong scale or zero point would be far off
