"""`probe train` and `probe embed` through the real command line, on the tiny encoder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
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


# --- arguments are validated before any work --------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--batch-size", 0, "must be at least 1"),
        ("--max-length", 1, "must be at least 2"),
        ("--test-size", 1.5, "between 0 and 1"),
        ("--test-size", 0, "between 0 and 1"),
        ("--layer", "last", "neither a whole number nor 'auto'"),
        ("--epochs", 0, "must be at least 1"),
        ("--learning-rate", "nan", "not a finite number"),
    ],
)
def test_bad_option_values_are_usage_errors(tiny_encoder, tiny_data, tmp_path, capsys, option, value, says):
    assert probe("train", tiny_data[0], "-m", tiny_encoder, "-o", tmp_path / "m", option, value) == 2
    err = capsys.readouterr().err
    assert option in err and says in err and "Traceback" not in err
    assert not (tmp_path / "m").exists()


def test_a_max_length_beyond_the_position_table_is_refused_before_embedding(tiny_encoder, tiny_data, tmp_path, capsys):
    assert probe("train", tiny_data[0], "-m", tiny_encoder, "-o", tmp_path / "m", "--max-length", 100000) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (
        f"probe: error: --max-length 100000 is more than encoder '{tiny_encoder}' can read: its position table "
        "holds 128 tokens. Use --max-length 128 or less."
    )
    assert probe("embed", tiny_data[1], "-m", tiny_encoder, "-o", tmp_path / "v.npy", "--max-length", 129) == 2
    assert probe("embed", tiny_data[1], "-m", tiny_encoder, "-o", tmp_path / "v.npy", "--max-length", 128) == 0


def test_roberta_style_position_tables_lose_their_padding_offset():
    from probe_train.encoder import position_limit
    from transformers import BertConfig, BertModel, RobertaConfig, RobertaModel

    small = {"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 8}
    roberta = RobertaModel(RobertaConfig(vocab_size=20, max_position_embeddings=514, pad_token_id=1, **small))
    assert position_limit(roberta) == 512  # positions start at padding_idx + 1 = 2
    assert position_limit(BertModel(BertConfig(vocab_size=20, max_position_embeddings=512, **small))) == 512


# --- no code from a model folder ever runs -------------------------------------------------------------


@pytest.mark.parametrize("model_type", ["bert", "evil-bert"])
def test_an_encoder_that_asks_for_remote_code_is_refused(tiny_encoder, tiny_data, tmp_path, capsys, model_type):
    encoder = shutil.copytree(tiny_encoder, tmp_path / "encoder")
    ran = tmp_path / "code-ran"
    config = json.loads((encoder / "config.json").read_text())
    config["model_type"] = model_type
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"}
    (encoder / "config.json").write_text(json.dumps(config))
    (encoder / "evil.py").write_text(f"open({str(ran)!r}, 'w').write('ran')\n")
    assert probe("train", tiny_data[0], "-m", encoder, "-o", tmp_path / "m") == 1
    err = capsys.readouterr().err
    assert "asks to run its own Python code" in err and "probe never runs code" in err
    assert len(err.strip().splitlines()) == 1  # the encoder is checked before the first progress line
    assert not ran.exists() and not (tmp_path / "m").exists()


# --- command-line conventions ----------------------------------------------------------------------------


def test_usage_errors_exit_2_in_one_line_and_v_after_the_command_adds_the_traceback(tiny_encoder, tmp_path, capsys):
    (tmp_path / "project").mkdir()
    data = tmp_path / "project" / "train.csv"
    data.write_text("text,label\na,x\nb,y\n")
    assert probe("train", data, "-m", tiny_encoder, "-o", tmp_path / "project") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("probe: error: --out") and "Traceback" not in err
    assert probe("train", data, "-m", tiny_encoder, "-o", tmp_path / "project", "-v") == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "UsageError" in err and err.strip().splitlines()[-1].startswith("probe: error:")
    assert probe("-v", "train", data, "-m", tiny_encoder, "-o", tmp_path / "project") == 2
    assert "Traceback" in capsys.readouterr().err


def test_a_closed_stdout_ends_quietly(tiny_encoder, tmp_path):
    """`probe embed ... | head -0`: the reader is gone before the summary line is printed."""
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(root / p) for p in ("runtime/src", "train", "export", ".")),
    }
    (tmp_path / "t.txt").write_text("the movie was good\n")
    args = ["embed", str(tmp_path / "t.txt"), "-m", str(tiny_encoder), "-o", str(tmp_path / "v.npy")]
    code = "import sys; from probe_export.cli import main; sys.exit(main(sys.argv[1:]))"
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env, **pipes)
    proc.stdout.close()  # like `| head -0`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err
    assert np.load(tmp_path / "v.npy").shape == (1, 32)


def test_text_field_is_another_name_for_text_column(tiny_encoder, tiny_data, tmp_path):
    """As in `probe-runtime classify`: CSV has columns, JSONL has fields; both flags name the text."""
    import csv

    with open(tiny_data[0], newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"body": r["text"], "label": r["label"]}) + "\n" for r in rows))
    assert probe("train", data, "--text-field", "body", "-m", tiny_encoder, "-o", tmp_path / "m") == 0
    assert probe("embed", data, "--text-field", "body", "-m", tiny_encoder, "-o", tmp_path / "v.npy") == 0
    assert np.load(tmp_path / "v.npy").shape == (len(rows), 32)


def test_by_default_the_probe_cross_validates_both_normalisations_and_records_them(tiny_trained, tiny_artifacts):
    from probe_runtime import Classifier
    from probe_runtime.info import describe

    config = json.loads((tiny_trained / "config.json").read_text())
    recorded = config["settings"]
    assert recorded["normalize_chosen_by"] == "cross-validation"
    raw, l2 = recorded["cv_accuracy_raw"], recorded["cv_accuracy_l2"]
    assert config["normalize"] is recorded["normalize"] is (l2 > raw)
    assert recorded["cv_accuracy"] == max(raw, l2)
    training = Classifier.load(tiny_artifacts["fp32"]).manifest.training
    assert (training.normalize_chosen_by, training.cv_accuracy_raw, training.cv_accuracy_l2) == (
        "cross-validation",
        raw,
        l2,
    )
    assert any(
        "normalize_chosen_by" in line
        for line in describe(str(tiny_artifacts["fp32"]), Classifier.load(tiny_artifacts["fp32"]))
    )


@pytest.mark.parametrize("flag", ["--normalize", "--no-normalize"])
def test_an_explicit_normalisation_flag_is_obeyed_and_recorded_as_set(tiny_encoder, tiny_data, tmp_path, capsys, flag):
    train, test = tiny_data
    assert probe("train", train, "--test", test, "-m", tiny_encoder, "-o", tmp_path / "m", flag) == 0
    assert "L2 normalisation: " + ("yes" if flag == "--normalize" else "no") + " (as set)" in capsys.readouterr().err
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["normalize"] is (flag == "--normalize")
    assert config["settings"]["normalize_chosen_by"] == "setting"
    assert "cv_accuracy_raw" not in config["settings"] and "cv_accuracy_l2" not in config["settings"]
