"""The layer sweep: one encoder pass gives every layer's vectors, pooled every way, and `probe layers`
shows where the task lives; negative layer indexes count from the last, as in Python."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from probe_export.cli import main
from probe_train.embeddings import embed_texts, layer_embeddings
from probe_train.encoder import load_encoder
from probe_train.layers import LayerScore, recommend

TEXTS = ["the movie was good", "this film seemed awful and the plot was fine", "dull", "our dinner was great"]


@pytest.fixture
def encoder(tiny_encoder):
    return load_encoder(str(tiny_encoder))


def _hidden_states(encoder, text: str) -> tuple[torch.Tensor, ...]:
    """The encoder's own hidden states for one unpadded text, straight from transformers."""
    feeds = encoder.tokenizer(text, return_tensors="pt", truncation=True, max_length=encoder.max_length)
    with torch.inference_mode():
        return encoder.model(**feeds, output_hidden_states=True).hidden_states


def test_per_layer_embeddings_equal_the_encoders_hidden_states_for_each_pooling(encoder):
    vectors = layer_embeddings(encoder, TEXTS, [0, 1, 2], ["cls", "mean", "max"])
    for row, text in enumerate(TEXTS):
        states = _hidden_states(encoder, text)
        assert len(states) == 3
        for layer, hidden in enumerate(states):
            tokens = hidden[0]
            expected = {"cls": tokens[0], "mean": tokens.mean(0), "max": tokens.amax(0)}
            for pooling, vector in expected.items():
                np.testing.assert_allclose(vectors[layer, pooling][row], vector.numpy(), atol=1e-5)


def test_negative_layers_count_from_the_last(encoder):
    for negative, positive in ((-1, 2), (-2, 1), (-3, 0)):
        np.testing.assert_allclose(
            embed_texts(encoder, TEXTS, "mean", negative, show_progress=False),
            embed_texts(encoder, TEXTS, "mean", positive, show_progress=False),
            atol=1e-6,
        )
    assert set(layer_embeddings(encoder, TEXTS, [-1, -2], ["cls"])) == {(2, "cls"), (1, "cls")}


def test_normalised_embeddings_have_unit_length(encoder):
    vectors = embed_texts(encoder, TEXTS, "max", -2, show_progress=False, normalize=True)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


def _score(layer: int, cv: float, pooling: str = "mean", normalize: bool = False) -> LayerScore:
    return LayerScore(layer, pooling, normalize, cv_accuracy=cv, cv_spread=0.01, C=1.0, seconds=0.1)


def test_the_recommendation_is_the_earliest_layer_within_the_tolerance_of_the_best():
    scores = [_score(0, 0.70), _score(1, 0.896), _score(2, 0.90), _score(2, 0.905, "cls"), _score(1, 0.90, "max")]
    chosen, best = recommend(scores, tolerance=0.5)
    assert best == scores[3]
    assert chosen == scores[4]  # layer 1, its best pooling (0.90 >= 0.905 - 0.005)
    assert recommend(scores, tolerance=0.1)[0] == scores[3]


def test_probe_layers_prints_the_table_and_writes_json_and_a_png(tiny_encoder, tiny_data, tmp_path, capsys):
    train, test = (str(p) for p in tiny_data)
    out = tmp_path / "sweep"
    assert main(["layers", train, "--test", test, "--model", str(tiny_encoder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "recommended: layer" in printed and "mean+l2" in printed
    results = json.loads((out / "layers.json").read_text())
    assert results["format"] == "probe-layer-sweep" and results["n_layers"] == 2
    assert len(results["scores"]) == 3 * 3 * 2  # layers 0..2 x cls/mean/max x with/without L2
    assert all(s["accuracy"] is not None and 0 <= s["cv_spread"] < 1 for s in results["scores"])
    assert results["recommended"]["layer"] in (0, 1, 2)
    assert (out / "layers.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # An earlier sweep's directory is replaced only with --overwrite.
    again = ["layers", train, "--model", str(tiny_encoder), "--out", str(out), "--no-plot"]
    assert main(again) == 2
    assert main([*again, "--overwrite"]) == 0 and not (out / "layers.png").exists()


def test_train_with_layer_auto_trains_on_the_sweeps_recommendation(tiny_encoder, tiny_data, tmp_path, capsys):
    train, test = (str(p) for p in tiny_data)
    out = tmp_path / "m"
    args = ["train", train, "--test", test, "--model", str(tiny_encoder), "--out", str(out), "--layer", "auto"]
    assert main([*args, "--pooling", "cls"]) == 0
    err = capsys.readouterr().err
    config = json.loads((out / "config.json").read_text())
    assert f"--layer auto: layer {config['layer']} of 2, pooling cls" in err
    assert config["pooling"] == "cls" and isinstance(config["normalize"], bool)


def test_a_layer_beyond_the_first_counted_from_the_end_is_refused(tiny_encoder, tiny_data, tmp_path, capsys):
    args = ["train", str(tiny_data[0]), "--model", str(tiny_encoder), "--out", str(tmp_path / "m"), "--layer", "-4"]
    assert main(args) == 2
    assert "-1..-3 counted from the last" in capsys.readouterr().err
