"""`probe train` and `probe embed` through the real command line, on the tiny encoder."""

from __future__ import annotations

import json

import numpy as np
from probe_export.cli import main


def probe(*args) -> int:
    return main([str(a) for a in args])


def test_train_writes_the_model_directory_and_report(tiny_trained):
    names = {p.name for p in tiny_trained.iterdir()}
    assert {"config.json", "head.npz", "report.json", "eval.jsonl"} <= names
    report = json.loads((tiny_trained / "report.json").read_text())
    assert report["labels"] == ["neg", "pos"]
    assert report["accuracy"] > report["majority_baseline"]
    assert len(report["confusion_matrix"]) == 2
    assert set(report["per_class"]) == {"neg", "pos"}


def test_train_prints_a_readable_report(tiny_encoder, tiny_data, tmp_path, capsys):
    train, test = tiny_data
    assert (
        probe(
            "train", train, "--test", test, "-m", tiny_encoder, "-o", tmp_path / "m", "--pooling", "cls", "--layer", 1
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "accuracy" in out and "macro-F1" in out and "confusion matrix" in out
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["pooling"] == "cls" and config["layer"] == 1


def test_train_without_test_file_holds_out_a_split(tiny_encoder, tiny_data, tmp_path):
    train, _ = tiny_data
    assert probe("train", train, "-m", tiny_encoder, "-o", tmp_path / "m", "--test-size", 0.25) == 0
    assert json.loads((tmp_path / "m" / "report.json").read_text())["n"] == 30


def test_user_mistakes_exit_1_with_a_message_and_no_traceback(tiny_encoder, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence,label\nhi,a\n")
    assert probe("train", bad, "-m", tiny_encoder, "-o", tmp_path / "m") == 1
    err = capsys.readouterr().err
    assert "no column 'text'" in err and "Traceback" not in err
    assert not (tmp_path / "m").exists()


def test_a_layer_the_encoder_does_not_have_is_refused(tiny_encoder, tiny_data, tmp_path, capsys):
    train, test = tiny_data
    assert probe("train", train, "--test", test, "-m", tiny_encoder, "-o", tmp_path / "m", "--layer", 7) == 2
    assert "layers 0..2" in capsys.readouterr().err


def test_embed_writes_one_row_per_text_in_input_order(tiny_encoder, tmp_path, capsys):
    texts = ["the movie was great", "awful", "the plot was dull and the hotel was poor"]
    src = tmp_path / "texts.txt"
    src.write_text("\n".join(texts) + "\n")
    out = tmp_path / "vectors.npy"
    assert probe("embed", src, "-m", tiny_encoder, "--out", out) == 0
    vectors = np.load(out)
    assert vectors.shape == (3, 32)
    out_single = tmp_path / "one.npy"
    (tmp_path / "one.txt").write_text(texts[2] + "\n")
    assert probe("embed", tmp_path / "one.txt", "-m", tiny_encoder, "--out", out_single) == 0
    np.testing.assert_allclose(np.load(out_single)[0], vectors[2], atol=1e-5)
