"""`probe export` of a `probe train --encoder static` model: the table's graph, gated, verified, run by the runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from probe_export.cli import main
from probe_export.static_export import static_reference
from probe_runtime import Classifier
from probe_runtime.choices import EncoderKind, Quantization
from probe_train.classifier_module import forward_batches
from probe_train.encoder import load_encoder
from probe_train.model_dir import load_trained


@pytest.fixture(scope="module")
def static_model(tiny_encoder: Path, tiny_data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    train, test = tiny_data
    out = tmp_path_factory.mktemp("static-export") / "model"
    args = ["train", str(train), "--test", str(test), "--model", str(tiny_encoder), "--out", str(out)]
    assert main([*args, "--encoder", "static", "--static-dims", "16"]) == 0
    return out


def _torch_answers(model_dir: Path, texts: list[str]) -> np.ndarray:
    trained = load_trained(model_dir)
    module = static_reference(trained)
    encoder = load_encoder(trained.encoder)
    out = np.empty((len(texts), len(trained.labels)), dtype=np.float32)
    with torch.inference_mode():
        for positions, feeds in forward_batches(encoder, texts, 8):
            out[positions] = module(**feeds)[0].numpy()
    return out


@pytest.mark.parametrize("quantize", ["auto", "none"])
def test_the_runtime_answers_as_the_torch_reference(static_model: Path, tmp_path: Path, quantize: str) -> None:
    out = tmp_path / "static.onnx"
    assert main(["export", str(static_model), "--out", str(out), "--quantize", quantize]) == 0
    classifier = Classifier.load(out)
    texts = load_trained(static_model).eval_texts
    probs = classifier.predict_proba(texts)
    reference = _torch_answers(static_model, texts)
    tolerance = 1e-5 if quantize == "none" else 2e-2  # the int8 table rounds each row to 1/254 of its peak
    np.testing.assert_allclose(probs, reference, atol=tolerance)
    assert (probs.argmax(1) == reference.argmax(1)).mean() >= 0.95
    manifest = classifier.manifest
    assert manifest.input_names == ["input_ids", "attention_mask"] and manifest.encoder_layers == 0
    assert manifest.verification is not None and manifest.verification.fp32 is not None
    assert manifest.verification.precision is not None and manifest.verification.precision.requested == quantize
    assert manifest.canaries is not None and manifest.card and manifest.speed is not None


def test_auto_ships_the_int8_table_when_it_passes_the_gate(static_model: Path, tmp_path: Path) -> None:
    auto, fp32 = tmp_path / "auto.onnx", tmp_path / "fp32.onnx"
    lenient = ["--max-flip-rate", "100", "--significance", "0"]
    assert main(["export", str(static_model), "--out", str(auto), *lenient]) == 0
    assert main(["export", str(static_model), "--out", str(fp32), "--quantize", "none"]) == 0
    precision = Classifier.load(auto).manifest.verification.precision  # type: ignore[union-attr]
    assert precision is not None and precision.candidates[0].passed
    assert auto.stat().st_size < fp32.stat().st_size  # the table stored int8: the file shrinks
    shipped, plain = Classifier.load(auto).manifest, Classifier.load(fp32).manifest
    assert (shipped.quantization, plain.quantization) == (Quantization.INT8_TABLE, Quantization.NONE)
    assert shipped.encoder is not None and shipped.encoder.kind is EncoderKind.STATIC
    assert shipped.encoder.dims == 16 and shipped.encoder.distilled_from == load_trained(static_model).encoder


def test_info_describes_a_static_file(static_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from probe_runtime.cli import main as runtime_main

    out = tmp_path / "static.onnx"
    assert main(["export", str(static_model), "--out", str(out)]) == 0
    capsys.readouterr()
    assert runtime_main(["info", str(out)]) == 0
    assert "static table" in capsys.readouterr().out
