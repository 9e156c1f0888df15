"""`probe export` never loses a byte of the user's, and refuses a damaged model directory in one line."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from probe_export.cli import main
from probe_runtime import Classifier
from probe_runtime.guard import output_lock

from tests.train.test_train_output_safety import snapshot


def probe(*args) -> int:
    return main([str(a) for a in args])


@pytest.fixture
def model_dir(tiny_trained: Path, tmp_path: Path) -> Path:
    """A private copy of the trained model directory, free to be a victim."""
    return shutil.copytree(tiny_trained, tmp_path / "model")


def test_export_over_the_models_own_config_is_refused(model_dir, capsys):
    before = snapshot(model_dir)
    assert probe("export", model_dir, "--out", model_dir / "config.json") == 2
    assert probe("export", model_dir, "--out", model_dir / "config.json", "--overwrite") == 2
    assert probe("export", model_dir, "--out", model_dir) == 2
    assert probe("export", model_dir, "--out", model_dir / "model.onnx") == 2
    err = capsys.readouterr().err
    assert "inside the model directory" in err and "is the model directory" in err and "Traceback" not in err
    assert snapshot(model_dir) == before


def test_export_into_the_encoder_or_over_the_eval_file_is_refused(model_dir, tiny_encoder, tiny_data, capsys):
    encoder_before = snapshot(tiny_encoder)
    assert probe("export", model_dir, "--out", Path(tiny_encoder) / "model.onnx") == 2
    assert "inside the encoder" in capsys.readouterr().err
    eval_copy = shutil.copy(tiny_data[1], model_dir.parent / "eval.csv")
    eval_before = Path(eval_copy).read_bytes()
    assert probe("export", model_dir, "--out", eval_copy, "--eval", eval_copy, "--overwrite") == 2
    assert "is the --eval file" in capsys.readouterr().err
    assert snapshot(tiny_encoder) == encoder_before
    assert Path(eval_copy).read_bytes() == eval_before


def test_export_never_replaces_a_file_that_is_not_a_probe_artifact(model_dir, tmp_path, capsys):
    plain = onnx.helper.make_model(
        onnx.helper.make_graph(
            [onnx.helper.make_node("Identity", ["x"], ["y"])],
            "someone-elses",
            [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
            [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
        )
    )
    theirs = tmp_path / "theirs.onnx"
    onnx.save_model(plain, str(theirs))
    notes = tmp_path / "notes.onnx"
    notes.write_text("not even onnx\n")
    before = {p: p.read_bytes() for p in (theirs, notes)}
    for victim in before:
        assert probe("export", model_dir, "--out", victim, "--overwrite") == 2
    assert "not a probe artifact (.onnx) written by probe" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in before} == before


def test_an_earlier_artifact_is_replaced_only_with_overwrite_and_gets_the_umask(model_dir, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    old = os.umask(0o002)
    try:
        assert probe("export", model_dir, "--out", out, "--quantize", "none") == 0
        assert out.stat().st_mode & 0o777 == 0o664
        before = out.read_bytes()
        assert probe("export", model_dir, "--out", out) == 2
        assert "pass --overwrite" in capsys.readouterr().err
        assert out.read_bytes() == before
        assert probe("export", model_dir, "--out", out, "--overwrite") == 0
    finally:
        os.umask(old)
    assert Classifier.load(out).manifest.quantization != "none"  # not the fp32 file it replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "model"]  # no temporary or lock file left


def test_a_second_export_to_the_same_out_is_refused(model_dir, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    with output_lock(out):
        assert probe("export", model_dir, "--out", out) == 2
    assert "another probe process is writing" in capsys.readouterr().err
    assert not out.exists()


def test_export_to_an_impossible_place_is_refused_before_any_work(model_dir, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert probe("export", model_dir, "--out", tmp_path / "file" / "m.onnx") == 2
    assert probe("export", model_dir, "--out", "/proc/m.onnx") == 2
    err = capsys.readouterr().err
    assert "is a file, not a directory" in err and "cannot write in /proc" in err


# --- a damaged model directory: one line naming the piece, exit 1 -------------------------------------


def _drop(path: Path) -> None:
    path.unlink()


def _garble(path: Path) -> None:
    path.write_text('{"format": "probe-trained-model", ')


def _wrong_head(path: Path) -> None:
    np.savez(path, weight=np.zeros((3, 32), np.float32), bias=np.zeros(3, np.float32))


def _foreign_label(path: Path) -> None:
    path.write_text(json.dumps({"text": "the movie was good", "label": "neutral"}) + "\n")


def _no_labels(path: Path) -> None:
    config = json.loads(path.read_text())
    config["labels"] = "pos"
    path.write_text(json.dumps(config))


DAMAGE = [
    ("head.npz", _drop, "head.npz: missing"),
    ("head.npz", lambda p: p.write_bytes(b"PK\x03\x04 truncated"), "head.npz: cannot be read"),
    ("head.npz", _wrong_head, "do not fit 2 labels"),
    ("config.json", _garble, "config.json: not valid JSON"),
    ("config.json", _no_labels, "field 'labels' is 'pos', not a list"),
    ("config.json", _drop, "not a trained probe model (no config.json)"),
    ("eval.jsonl", _foreign_label, "line 1 has the label 'neutral', which the model lacks"),
    ("eval.jsonl", lambda p: p.write_text("{not json\n"), "eval.jsonl: line 1: not valid JSON"),
    ("report.json", lambda p: p.write_text("[1, 2"), "report.json: not valid JSON"),
]


@pytest.mark.parametrize(("piece", "damage", "says"), DAMAGE, ids=[f"{p}-{s[:24]}" for p, _, s in DAMAGE])
def test_a_damaged_model_directory_is_one_clear_line(model_dir, tmp_path, capsys, piece, damage, says):
    damage(model_dir / piece)
    assert probe("export", model_dir, "--out", tmp_path / "m.onnx") == 1
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err and err.count("\n") == 1, err
    assert not (tmp_path / "m.onnx").exists()


def test_a_file_given_as_the_model_directory_is_one_clear_line(tiny_data, tmp_path, capsys):
    assert probe("export", tiny_data[1], "--out", tmp_path / "m.onnx") == 1
    err = capsys.readouterr().err
    assert "is a file, not a model directory" in err and err.count("\n") == 1
