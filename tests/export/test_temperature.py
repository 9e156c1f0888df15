"""The temperature is folded into the exported graph: its probabilities are softmax(logits / T) of the
PyTorch model, at no run-time cost beyond one division, and the label never changes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from probe_export.module import build_module
from probe_runtime import Classifier
from probe_train.classifier_module import batched_forward
from probe_train.model_dir import load_trained, save_trained

TEXTS = ["the movie was great", "the plot was awful", "our dinner seemed fine", "this film felt dull and long"]


@pytest.fixture(scope="module")
def hot(tiny_trained: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny model directory with temperature 2.5, and its fp32 export."""
    from probe_export.cli import main

    root = tmp_path_factory.mktemp("temperature")
    trained = replace(load_trained(tiny_trained), temperature=2.5)
    save_trained(trained, root / "model")
    assert main(["export", str(root / "model"), "--out", str(root / "hot.onnx"), "--quantize", "none"]) == 0
    return root / "model", root / "hot.onnx"


def test_the_graph_computes_softmax_of_the_logits_divided_by_the_temperature(hot: tuple[Path, Path]) -> None:
    model_dir, artifact = hot
    trained = load_trained(model_dir)
    module, encoder = build_module(trained)
    logits = batched_forward(encoder, TEXTS, module.logits, module.head.out_features)
    expected = torch.softmax(torch.from_numpy(logits) / 2.5, dim=-1).numpy()
    clf = Classifier.load(artifact)
    np.testing.assert_allclose(clf.predict_proba(TEXTS), expected, atol=1e-5)
    assert clf.manifest.temperature == 2.5
    unscaled = torch.softmax(torch.from_numpy(logits), dim=-1).numpy()
    assert np.abs(clf.predict_proba(TEXTS) - unscaled).max() > 1e-3  # the temperature is really there
    assert (clf.predict_proba(TEXTS).argmax(1) == unscaled.argmax(1)).all()  # and never changes the label


def test_an_uncalibrated_module_has_no_division_in_its_forward(tiny_trained: Path) -> None:
    trained = replace(load_trained(tiny_trained), temperature=1.0)
    module, encoder = build_module(trained)
    feeds = {k: torch.from_numpy(v) for k, v in next(iter(_batches(encoder))).feeds.items()}
    with torch.no_grad():
        probs, _ = module(**feeds)
        np.testing.assert_allclose(probs.numpy(), torch.softmax(module.logits(feeds), -1).numpy(), atol=1e-6)


def _batches(encoder):  # type: ignore[no-untyped-def]  # a test helper
    from probe_train.classifier_module import text_encoder

    tokens = text_encoder(encoder)
    return tokens.batches(tokens.encode(TEXTS), 4, 10**6)
