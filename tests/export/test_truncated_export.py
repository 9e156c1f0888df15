"""A probe on an earlier layer exports only the encoder blocks up to it: a smaller graph that answers
exactly like the truncated PyTorch model, and like the full one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from probe_export.cli import main
from probe_export.module import build_module, torch_probabilities
from probe_export.pipeline import _feeds
from probe_export.truncate import block_list, truncate_module
from probe_runtime import Classifier
from probe_train.model_dir import load_trained

TEXTS = ["the movie was good", "this film seemed awful", "the acting is dull and the plot was fine", "great"]


@pytest.fixture(scope="module")
def layer_probe(tiny_encoder, tiny_data, tmp_path_factory):
    """A normalised probe on layer -2 (block 1 of 2) of the tiny encoder, exported in fp32."""
    root = tmp_path_factory.mktemp("truncated")
    train, test = (str(p) for p in tiny_data)
    model = root / "m"
    args = ["train", train, "--test", test, "--model", str(tiny_encoder), "--out", str(model)]
    assert main([*args, "--layer", "-2", "--pooling", "cls", "--normalize"]) == 0
    assert main(["export", str(model), "--out", str(root / "m.onnx"), "--quantize", "none"]) == 0
    return model, root / "m.onnx"


def test_the_artifact_records_the_blocks_it_kept_and_info_shows_them(layer_probe, capsys):
    _, artifact = layer_probe
    manifest = Classifier.load(artifact).manifest
    assert manifest.layer == -2 and manifest.encoder_layers == 1
    assert manifest.training.normalize is True
    from probe_runtime.info import describe

    assert any("1 block(s) in the graph" in line for line in describe(str(artifact), Classifier.load(artifact)))


def test_the_truncated_export_matches_the_truncated_pytorch_model(layer_probe):
    model_dir, artifact = layer_probe
    full, encoder = build_module(load_trained(model_dir))
    cut, kept = truncate_module(full, _feeds(encoder, TEXTS))
    assert kept == 1 and len(block_list(cut.encoder)) == 1 and len(block_list(full.encoder)) == 2
    onnx = Classifier.load(artifact).predict_proba(TEXTS)
    np.testing.assert_allclose(onnx, torch_probabilities(cut, encoder, TEXTS), atol=1e-4)
    np.testing.assert_allclose(onnx, torch_probabilities(full, encoder, TEXTS), atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(Classifier.load(artifact).embed(TEXTS), axis=1), 1.0, atol=1e-5)


def test_the_truncated_file_is_smaller_than_the_full_one(layer_probe, fp32_model):
    assert layer_probe[1].stat().st_size < 0.8 * fp32_model.stat().st_size
    assert Classifier.load(fp32_model).manifest.encoder_layers == 2


def test_the_model_directory_records_normalisation(layer_probe):
    config = json.loads((layer_probe[0] / "config.json").read_text())
    assert config["normalize"] is True and config["layer"] == -2
