"""`probe export`: one verified, self-contained ONNX file that reproduces the PyTorch pipeline."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from probe_export.cli import main
from probe_export.module import build_module, torch_probabilities
from probe_runtime import Classifier
from probe_train.model_dir import load_trained

TEXTS = [
    "the movie was great",
    "our dinner felt horrible",
    "the acting honestly felt superb and the plot was fine",
    "x",
    "THE HOTEL WAS DREADFUL!!!",
]


@pytest.fixture(scope="module")
def reference(tiny_trained):
    module, encoder = build_module(load_trained(tiny_trained))
    return torch_probabilities(module, encoder, TEXTS)


def test_fp32_file_matches_pytorch_within_1e_4(fp32_model, reference):
    got = Classifier.load(fp32_model).predict_proba(TEXTS)
    np.testing.assert_allclose(got, reference, atol=1e-4)


def test_int8_file_agrees_with_pytorch_on_the_predicted_class(int8_model, reference):
    got = Classifier.load(int8_model).predict_proba(TEXTS)
    assert (got.argmax(1) == reference.argmax(1)).mean() >= 0.8
    assert np.abs(got - reference).max() < 0.2


def test_the_graph_is_fused_and_int8_weights_are_quantized(int8_model, fp32_model):
    int8_ops = {node.op_type for node in onnx.load(str(int8_model)).graph.node}
    fp32_ops = {node.op_type for node in onnx.load(str(fp32_model)).graph.node}
    assert {"Attention", "EmbedLayerNormalization", "LayerNormalization"} <= fp32_ops
    assert "SkipLayerNormalization" not in fp32_ops  # kept unfused on purpose: its CPU kernel is slower
    assert "MatMulInteger" in int8_ops or "QAttention" in int8_ops or "DynamicQuantizeMatMul" in int8_ops


def test_inputs_are_token_ids_and_mask_with_dynamic_batch_and_sequence(int8_model):
    graph = onnx.load(str(int8_model)).graph
    inputs = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input}
    # token type ids only when the graph uses them; the manifest lists exactly what the file declares
    assert {"input_ids", "attention_mask"} <= inputs.keys() <= {"input_ids", "attention_mask", "token_type_ids"}
    assert all(dims == ["batch", "sequence"] for dims in inputs.values())
    assert Classifier.load(int8_model).manifest.input_names == [i.name for i in graph.input]
    outputs = {o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in graph.output}
    assert outputs["probabilities"][0] == "batch"  # [batch, n_labels]
    assert outputs["embeddings"][0] == "batch"  # [batch, hidden]: the pooled vector the head reads


def test_verification_figures_are_recorded_in_the_file(int8_model):
    v = Classifier.load(int8_model).manifest.verification
    assert v["texts"] == 40
    assert v["fp32"]["agreement"] == 1.0 and v["fp32"]["max_abs_diff"] < 1e-4
    assert {"accuracy", "macro_f1", "flip_rate", "max_abs_diff", "mean_abs_diff"} <= v["int8"].keys()
    assert v["int8_gate"]["max_loss_points"] == 0.5


def test_int8_is_verified_batched_and_one_text_per_call_and_the_gate_counts_the_worse(int8_model):
    v = Classifier.load(int8_model).manifest.verification
    batched, alone = v["int8"], v["int8_one_by_one"]
    assert {"accuracy", "macro_f1", "flip_rate", "max_abs_diff"} <= alone.keys()
    worst = min(batched["accuracy"], alone["accuracy"])
    assert v["int8_gate"]["loss_points"] == pytest.approx(100 * (v["fp32"]["accuracy"] - worst), abs=1e-3)


def test_export_prints_the_verification(tiny_trained, tmp_path, capsys):
    assert main(["export", str(tiny_trained), "--out", str(tmp_path / "m.onnx")]) == 0
    out = capsys.readouterr().out
    assert "fp32" in out and "int8" in out and "agreement" in out and "accuracy" in out
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_export_can_verify_on_another_labelled_file(tiny_trained, tiny_data, tmp_path):
    train, _ = tiny_data
    args = ["export", tiny_trained, "--out", tmp_path / "m.onnx", "--eval", train, "--quantize", "none"]
    assert main([str(a) for a in args]) == 0
    v = Classifier.load(tmp_path / "m.onnx").manifest.verification
    assert v["texts"] == 120 and v["source"] == str(train)


def test_exporting_something_that_is_not_a_model_directory_fails_cleanly(tmp_path, capsys):
    (tmp_path / "not-a-model").mkdir()
    assert main(["export", str(tmp_path / "not-a-model"), "--out", str(tmp_path / "m.onnx")]) == 1
    assert "not a trained probe model" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def _disagreement_file(tmp_path, fp32_model, int8_model):
    """Labelled texts on which int8 and fp32 disagree, labelled with fp32's answer: int8 must lose."""
    from conftest import synthetic_rows, write_csv

    texts = [t for t, _ in synthetic_rows(600, seed=11)] + [f"the plot was {w}" for w in ("fine", "ok", "so so")]
    fp32, int8 = Classifier.load(fp32_model), Classifier.load(int8_model)
    p32, p8 = fp32.predict_proba(texts, batch_size=1), int8.predict_proba(texts, batch_size=1)
    flipped = [i for i in range(len(texts)) if p32[i].argmax() != p8[i].argmax()]
    assert flipped, "the tiny int8 graph flips no prediction; the gate test needs at least one"
    rows = [(texts[i], fp32.labels[int(p32[i].argmax())]) for i in flipped]
    rows += [(texts[i], fp32.labels[int(p32[i].argmax())]) for i in range(len(texts)) if i not in flipped][:20]
    return write_csv(tmp_path / "hard.csv", rows)


def test_export_fails_when_int8_loses_more_than_the_tolerance(tiny_trained, fp32_model, int8_model, tmp_path, capsys):
    hard = _disagreement_file(tmp_path, fp32_model, int8_model)
    out = tmp_path / "m.onnx"
    assert main(["export", str(tiny_trained), "--out", str(out), "--eval", str(hard)]) == 1
    err = capsys.readouterr().err
    assert "int8 loses" in err and "--fallback-fp32" in err and "Traceback" not in err
    assert not out.exists()


def test_fallback_keeps_fp32_when_int8_fails_the_gate(tiny_trained, fp32_model, int8_model, tmp_path):
    hard = _disagreement_file(tmp_path, fp32_model, int8_model)
    out = tmp_path / "m.onnx"
    assert main(["export", str(tiny_trained), "--out", str(out), "--eval", str(hard), "--fallback-fp32"]) == 0
    manifest = Classifier.load(out).manifest
    assert manifest.quantization == "none"
    assert manifest.verification["int8_gate"]["passed"] is False
    assert "MatMulInteger" not in {n.op_type for n in onnx.load(str(out)).graph.node}


def test_a_generous_tolerance_lets_int8_through(tiny_trained, fp32_model, int8_model, tmp_path):
    hard = _disagreement_file(tmp_path, fp32_model, int8_model)
    out = tmp_path / "m.onnx"
    assert main(["export", str(tiny_trained), "--out", str(out), "--eval", str(hard), "--max-int8-loss", "100"]) == 0
    assert Classifier.load(out).manifest.quantization == "int8"
