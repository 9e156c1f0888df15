"""A probe on an earlier layer of MPNet (relative position bias, computed once before the blocks and
shared by them: the case `benchmarks.layer_report` meets on all-mpnet-base-v2) exports only the blocks
up to it, and the cut file answers like the whole PyTorch model, calibration temperature included (the
cut module once dropped it: the file's probabilities were uncalibrated while its manifest said otherwise)."""

from __future__ import annotations

import numpy as np
import pytest
from architectures import build_encoder
from probe_export.cli import main
from probe_export.module import build_module, torch_probabilities
from probe_export.pipeline import _feeds
from probe_export.truncate import block_list, truncate_module
from probe_runtime import Classifier
from probe_train.model_dir import load_trained

TEXTS = ["the movie was good", "this film seemed awful", "the acting is dull and the plot was fine", "great"]


@pytest.fixture(scope="module")
def mpnet(tmp_path_factory):
    return build_encoder("mpnet", tmp_path_factory.mktemp("mpnet") / "encoder")


@pytest.mark.parametrize(("layer", "kept"), [(0, 0), (1, 1)])
def test_an_early_mpnet_layer_exports_its_blocks_only_and_answers_like_pytorch(mpnet, tiny_data, tmp_path, layer, kept):
    train, test = (str(p) for p in tiny_data)
    model = tmp_path / "m"
    args = ["train", train, "--test", test, "--model", str(mpnet), "--out", str(model), "--layer", str(layer)]
    assert main([*args, "--pooling", "mean"]) == 0
    assert main(["export", str(model), "--out", str(tmp_path / "m.onnx"), "--quantize", "none"]) == 0
    clf = Classifier.load(tmp_path / "m.onnx")
    assert clf.manifest.encoder_layers == kept
    full, encoder = build_module(load_trained(model))
    assert full.temperature != 1.0  # calibrated: a dropped temperature would show
    cut, blocks = truncate_module(full, _feeds(encoder, TEXTS))
    cut_blocks, full_blocks = block_list(cut.encoder), block_list(full.encoder)
    assert cut_blocks is not None and full_blocks is not None
    assert blocks == kept and len(cut_blocks) == kept and len(full_blocks) == 2
    reference = torch_probabilities(full, encoder, TEXTS)
    np.testing.assert_allclose(torch_probabilities(cut, encoder, TEXTS), reference, atol=1e-5)
    np.testing.assert_allclose(clf.predict_proba(TEXTS), reference, atol=1e-4)
