"""`probe export`: one verified, self-contained ONNX file that reproduces the PyTorch pipeline."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from probe_export.cli import main
from probe_export.module import build_module, torch_probabilities
from probe_export.precision import batch_moved_limit
from probe_runtime import Classifier
from probe_runtime.choices import Quantization
from probe_runtime.records import GateRecord
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
    assert v.texts == 40
    assert v.agreement_texts == 120 + 40  # the training sample the model directory keeps, then the test texts
    assert v.fp32.agreement == 1.0 and v.fp32.max_abs_diff < 1e-4
    assert None not in (v.int8.accuracy, v.int8.macro_f1, v.int8.flip_rate, v.int8.max_abs_diff, v.int8.mean_abs_diff)
    precision = v.precision
    assert (precision.requested, precision.chosen) == ("int8", Quantization.INT8)
    assert precision.gate == GateRecord(max_flip_rate=1.0, significance=0.0)


def test_per_batch_int8_is_verified_one_text_per_call_too_and_says_it_depends_on_the_batch(int8_model):
    (candidate,) = Classifier.load(int8_model).manifest.verification.precision.candidates
    assert candidate.alone_vs_batched_texts == 40  # every labelled text, one per call
    assert candidate.paired and candidate.paired_one_by_one  # the gate counts the worse way of calling
    limit = batch_moved_limit(candidate.alone_vs_batched_texts)
    assert candidate.batch_independent is (candidate.alone_vs_batched_moved <= limit)


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
    assert v.texts == 120 and v.source == str(train)


def test_exporting_something_that_is_not_a_model_directory_fails_cleanly(tmp_path, capsys):
    (tmp_path / "not-a-model").mkdir()
    assert main(["export", str(tmp_path / "not-a-model"), "--out", str(tmp_path / "m.onnx")]) == 1
    assert "not a trained probe model" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_the_export_cli_offers_exactly_the_contracts_choices():
    from probe_export.cli import build_parser
    from probe_runtime.choices import LongTextPolicy, WindowAggregate

    export = build_parser()._subparsers._group_actions[0].choices["export"]
    offered = {a.dest: tuple(a.choices) for a in export._actions if a.choices}
    assert offered == {
        # every precision a file can have, but the static table's, which is what int8 means for a static model
        "quantize": ("auto", *(v for v in Quantization.values() if v != Quantization.INT8_TABLE.value)),
        "long_text": LongTextPolicy.values(),
        "window_aggregate": WindowAggregate.values(),
    }


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("quantize", "int4", "--quantize must be one of auto, int8, int8-per-token, none, not 'int4'"),
        ("long_text", "chunks", "--long-text must be truncate or window, not 'chunks'"),
        ("window_aggregate", "median", "--window-aggregate must be max, mean or auto, not 'median'"),
    ],
)
def test_export_options_refuse_a_value_outside_the_contract(option, value, message):
    """The library names the field it was given; the command line shows the same words with its flag."""
    from probe_export.pipeline import ExportOptions
    from probe_runtime.errors import UsageError
    from probe_train.cli_options import flags_shown

    with pytest.raises(UsageError) as info:
        ExportOptions(**{option: value})
    assert str(info.value) == message.replace(f"--{option.replace('_', '-')}", option)
    with pytest.raises(UsageError) as info, flags_shown():
        ExportOptions(**{option: value})
    assert str(info.value) == message
