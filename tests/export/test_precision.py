"""`probe export` ships the fastest precision that passes a gate that measures: `auto` by default, fp32 when
nothing quantized passes, and an explicit precision that fails writes nothing and says what would succeed."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
from conftest import synthetic_rows
from probe_export.cli import main
from probe_runtime import Classifier
from probe_runtime.cli import main as runtime_main


@pytest.fixture(scope="module")
def default_model(tiny_trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("default") / "m.onnx"
    assert main(["export", str(tiny_trained), "--out", str(out)]) == 0  # no flags at all
    return out


@pytest.fixture(scope="module")
def fragile_model_dir(tiny_encoder, tiny_data, tmp_path_factory):
    """A probe trained on an encoder whose first layer writes one hidden channel 300x larger than the rest.
    The next layer's matmuls then get an int8 scale set by that channel, and every other channel rounds to
    almost nothing: per-token int8 changes ~12 % of labels. fp32 is unaffected (PyTorch and the fp32 graph
    run the same encoder, and the probe was trained on it): a model built so that int8 fails the gate."""
    import torch
    from transformers import BertModel

    root = tmp_path_factory.mktemp("fragile")
    encoder = BertModel.from_pretrained(tiny_encoder)
    with torch.no_grad():
        encoder.encoder.layer[0].output.LayerNorm.weight[0] *= 300.0
    encoder.save_pretrained(root / "encoder")
    for file in tiny_encoder.iterdir():
        if "token" in file.name:  # tokenizer.json, tokenizer_config.json, special_tokens_map.json
            shutil.copy(file, root / "encoder" / file.name)
    train, test = tiny_data
    args = ["train", str(train), "--test", str(test), "--model", str(root / "encoder"), "--out", str(root / "model")]
    assert main(args) == 0
    return root / "model"


def _texts() -> list[str]:
    return [text for text, _ in synthetic_rows(80, seed=21)] + ["x", "THE HOTEL WAS DREADFUL!!!", "ok " * 40]


def test_the_default_export_ships_the_fastest_precision_that_passes_and_records_why(default_model):
    manifest = Classifier.load(default_model).manifest
    precision = manifest.verification.precision
    assert precision.requested == "auto"
    assert precision.chosen == manifest.quantization
    tried = [c.name for c in precision.candidates]
    assert tried[0] == "int8-per-token" and tried[-1] == manifest.quantization  # tried in order, stopped at a pass
    assert all(not c.passed for c in precision.candidates[:-1]) and precision.candidates[-1].passed


def test_the_default_file_gives_a_text_the_same_answer_alone_or_in_any_batch(default_model):
    clf = Classifier.load(default_model, threads=2)
    texts = _texts()
    batched = clf.predict_proba(texts)
    alone = np.stack([clf.predict_proba(text) for text in texts])
    shuffled = np.random.default_rng(0).permutation(len(texts))
    in_other_batches = np.empty_like(batched)
    in_other_batches[shuffled] = clf.predict_proba([texts[i] for i in shuffled], batch_size=7)
    assert np.abs(alone - batched).max() <= 1e-4
    assert np.abs(in_other_batches - batched).max() <= 1e-4


def test_auto_falls_back_to_fp32_when_no_quantized_candidate_passes(fragile_model_dir, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["export", str(fragile_model_dir), "--out", str(out)]) == 0
    manifest = Classifier.load(out).manifest
    assert manifest.quantization == "none"
    candidates = manifest.verification.precision.candidates
    assert [c.name for c in candidates] == ["int8-per-token", "none"]
    assert not candidates[0].passed and "change label against fp32" in candidates[0].reasons[0]
    assert "MatMulInteger" not in {n.op_type for n in onnx.load(str(out)).graph.node}
    printed = capsys.readouterr().out
    assert "shipped none" in printed and "refused:" in printed


def test_an_explicit_precision_that_fails_writes_nothing_and_names_the_command_that_succeeds(
    fragile_model_dir, tmp_path, capsys
):
    out = tmp_path / "m.onnx"
    assert main(["export", str(fragile_model_dir), "--out", str(out), "--quantize", "int8-per-token"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "--quantize int8-per-token fails the gate" in err and "Nothing was written" in err
    assert f"probe export {fragile_model_dir} --out {out} --quantize auto" in err
    assert list(tmp_path.iterdir()) == []


def test_one_text_out_of_the_test_split_cannot_fail_an_export_but_the_gate_can_be_opened(fragile_model_dir, tmp_path):
    out = tmp_path / "m.onnx"
    args = ["export", str(fragile_model_dir), "--out", str(out), "--quantize", "int8-per-token"]
    assert main([*args, "--max-flip-rate", "100", "--significance", "0"]) == 0
    assert Classifier.load(out).manifest.quantization == "int8-per-token"


def test_info_shows_how_the_precision_was_chosen(default_model, capsys):
    assert runtime_main(["info", str(default_model)]) == 0
    printed = capsys.readouterr().out
    assert "precision: asked auto, shipped" in printed and "same answer alone or batched" in printed
