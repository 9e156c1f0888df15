"""`probe train` and `probe embed` never lose a byte of the user's: each test builds the victim, runs the
command the way a user would, and checks every file of the victim is byte-identical afterwards."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from probe_export.cli import main
from probe_runtime.guard import output_lock
from probe_train.checkpoint import CHECKPOINT_FILE, CHECKPOINT_MARKER, claim_checkpoint_dir, remove_checkpoints


def probe(*args) -> int:
    return main([str(a) for a in args])


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every file and directory under ``root`` (and ``root`` itself): content hash and permission bits."""
    root = Path(root)
    seen = {}
    for path in [root, *sorted(root.rglob("*"))]:
        rel = str(path.relative_to(root)) if path != root else "."
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        seen[rel] = (digest, path.stat().st_mode & 0o7777)
    return seen


@pytest.fixture
def hf_folder(tmp_path: Path) -> Path:
    """What a downloaded Hugging Face model looks like: a config.json, weights, a tokenizer."""
    folder = tmp_path / "bert-base"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert", "hidden_size": 768}\n')
    (folder / "model.safetensors").write_bytes(os.urandom(4096))
    (folder / "tokenizer.json").write_text('{"version": "1.0"}\n')
    return folder


@pytest.fixture
def project(tmp_path: Path, tiny_data) -> Path:
    """A project root with its own config.json and the training data inside."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "config.json").write_text('{"name": "my project"}\n')
    (root / "README.md").write_text("notes\n")
    shutil.copy(tiny_data[0], root / "train.csv")
    shutil.copy(tiny_data[1], root / "test.csv")
    return root


def train_args(data, encoder, out, *extra):
    return ["train", data, "--test-size", 0.25, "-m", encoder, "--out", out, *extra]


def test_train_refuses_to_replace_a_hugging_face_model_folder_even_with_overwrite(
    tiny_encoder, tiny_data, hf_folder, capsys
):
    before = snapshot(hf_folder)
    assert probe(*train_args(tiny_data[0], tiny_encoder, hf_folder)) == 2
    assert probe(*train_args(tiny_data[0], tiny_encoder, hf_folder, "--overwrite")) == 2
    err = capsys.readouterr().err
    assert "not a probe model directory written by probe" in err and "Traceback" not in err
    assert "training (probe)" not in err  # refused before any work
    assert snapshot(hf_folder) == before


def test_train_into_the_folder_that_holds_the_data_is_refused(tiny_encoder, project, monkeypatch, capsys):
    before = snapshot(project)
    assert probe(*train_args(project / "train.csv", tiny_encoder, project)) == 2
    assert "contains the training data" in capsys.readouterr().err
    monkeypatch.chdir(project)  # cd project && probe train train.csv --out .
    assert probe(*train_args("train.csv", tiny_encoder, ".", "--overwrite")) == 2
    assert snapshot(project) == before


def test_train_out_over_the_test_file_or_inside_the_data_is_refused(tiny_encoder, project, capsys):
    before = snapshot(project)
    args = ["train", project / "train.csv", "--test", project / "test.csv", "-m", tiny_encoder]
    assert probe(*args, "--out", project / "test.csv") == 2
    assert "is the test data" in capsys.readouterr().err
    assert probe(*args, "--out", project / "train.csv" / "model") == 2
    assert snapshot(project) == before


def test_train_with_the_encoder_as_out_is_refused(tiny_encoder, tiny_data, tmp_path, capsys):
    encoder = shutil.copytree(tiny_encoder, tmp_path / "encoder")
    before = snapshot(encoder)
    assert probe(*train_args(tiny_data[0], encoder, encoder)) == 2
    assert "is the encoder" in capsys.readouterr().err
    assert probe(*train_args(tiny_data[0], encoder, encoder / "probe")) == 2
    assert "inside the encoder" in capsys.readouterr().err
    assert snapshot(encoder) == before


def test_an_earlier_model_directory_is_replaced_only_with_overwrite(tiny_encoder, tiny_data, tmp_path, capsys):
    out = tmp_path / "m"
    assert probe(*train_args(tiny_data[0], tiny_encoder, out)) == 0
    before = snapshot(out)
    assert probe(*train_args(tiny_data[0], tiny_encoder, out, "--pooling", "cls")) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert snapshot(out) == before
    assert probe(*train_args(tiny_data[0], tiny_encoder, out, "--pooling", "cls", "--overwrite")) == 0
    assert json.loads((out / "config.json").read_text())["pooling"] == "cls"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no staging, no old copy, no lock left behind


def test_a_failed_overwrite_leaves_the_previous_model_untouched(tiny_encoder, tiny_data, tmp_path):
    out = tmp_path / "m"
    assert probe(*train_args(tiny_data[0], tiny_encoder, out)) == 0
    before = snapshot(out)
    assert probe(*train_args(tiny_data[0], tiny_encoder, out, "--overwrite", "--layer", 7)) == 2  # fails mid-run
    assert snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_a_config_json_without_our_format_marker_is_not_ours(tiny_encoder, tiny_data, tmp_path):
    fake = tmp_path / "m"
    fake.mkdir()
    (fake / "config.json").write_text('{"format": "something-else", "labels": ["a", "b"]}\n')
    (fake / "head.npz").write_bytes(b"precious")
    before = snapshot(fake)
    assert probe(*train_args(tiny_data[0], tiny_encoder, fake, "--overwrite")) == 2
    assert snapshot(fake) == before


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_outputs_get_the_users_umask(tiny_encoder, tiny_data, tmp_path, mask):
    old = os.umask(mask)
    try:
        assert probe(*train_args(tiny_data[0], tiny_encoder, tmp_path / "m")) == 0
        assert probe("embed", tiny_data[1], "-m", tiny_encoder, "--out", tmp_path / "v.npy") == 0
    finally:
        os.umask(old)
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o777 & ~mask
    for name in ("config.json", "head.npz", "report.json", "eval.jsonl"):
        assert (tmp_path / "m" / name).stat().st_mode & 0o777 == 0o666 & ~mask, name
    assert (tmp_path / "v.npy").stat().st_mode & 0o777 == 0o666 & ~mask


def test_out_under_a_file_is_refused_before_any_work(tiny_encoder, tiny_data, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine\n")
    assert probe(*train_args(tiny_data[0], tiny_encoder, tmp_path / "notes.txt" / "m")) == 2
    err = capsys.readouterr().err
    assert "is a file, not a directory" in err and "training (probe)" not in err
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_out_where_nothing_can_be_written_is_refused_before_any_work(tiny_encoder, tiny_data, capsys):
    assert probe(*train_args(tiny_data[0], tiny_encoder, "/proc/probe-model")) == 2
    err = capsys.readouterr().err
    assert "/proc" in err and "Choose another --out" in err and "training (probe)" not in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any directory")
def test_out_in_a_read_only_directory_is_refused(tiny_encoder, tiny_data, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        assert probe(*train_args(tiny_data[0], tiny_encoder, locked / "m")) == 2
    finally:
        locked.chmod(0o700)
    assert "no permission to write" in capsys.readouterr().err


def test_a_second_writer_to_the_same_out_is_refused(tiny_encoder, tiny_data, tmp_path, capsys):
    out = tmp_path / "m"
    with output_lock(out):  # another `probe train --out m` is running
        assert probe(*train_args(tiny_data[0], tiny_encoder, out)) == 2
        assert probe("embed", tiny_data[1], "-m", tiny_encoder, "--out", out) == 2
    assert "another probe process is writing" in capsys.readouterr().err
    assert not out.exists()


# --- fine-tuning's checkpoint directory ---------------------------------------------------------


def test_finetune_refuses_a_checkpoint_directory_it_did_not_create(tiny_encoder, tiny_data, tmp_path, capsys):
    foreign = tmp_path / "m.checkpoint"
    foreign.mkdir()
    (foreign / "last.pt").write_bytes(b"someone else's checkpoint")
    (foreign / "notes.md").write_text("keep me\n")
    before = snapshot(foreign)
    args = train_args(tiny_data[0], tiny_encoder, tmp_path / "m", "--method", "finetune", "--epochs", 1)
    assert probe(*args) == 2
    assert "not a checkpoint directory written by probe" in capsys.readouterr().err
    assert probe(*args, "--resume") == 2
    assert snapshot(foreign) == before
    assert not (tmp_path / "m").exists()


def test_removing_checkpoints_removes_only_what_probe_wrote(tmp_path):
    ours = claim_checkpoint_dir(tmp_path / "m.checkpoint")
    (ours / CHECKPOINT_FILE).write_bytes(b"checkpoint")
    (ours / "added-later.txt").write_text("the user's\n")
    remove_checkpoints(ours)
    assert sorted(p.name for p in ours.iterdir()) == ["added-later.txt"]
    assert (ours / "added-later.txt").read_text() == "the user's\n"

    foreign = tmp_path / "other"
    foreign.mkdir()
    (foreign / CHECKPOINT_FILE).write_bytes(b"not ours: no marker")
    before = snapshot(foreign)
    remove_checkpoints(foreign)
    assert snapshot(foreign) == before

    clean = claim_checkpoint_dir(tmp_path / "clean.checkpoint")
    (clean / CHECKPOINT_FILE).write_bytes(b"checkpoint")
    assert (clean / CHECKPOINT_MARKER).is_file()
    remove_checkpoints(clean)
    assert not clean.exists()


# --- probe embed ----------------------------------------------------------------------------------


def test_embed_over_its_own_input_is_refused(tiny_encoder, project, capsys):
    before = snapshot(project)
    assert probe("embed", project / "train.csv", "-m", tiny_encoder, "--out", project / "train.csv") == 2
    assert "is the data" in capsys.readouterr().err
    assert probe("embed", project / "train.csv", "-m", tiny_encoder, "--out", project / "test.csv", "--overwrite") == 2
    assert "not a .npy file written by probe" in capsys.readouterr().err
    assert snapshot(project) == before


def test_embed_into_the_encoder_is_refused(tiny_encoder, tiny_data, tmp_path):
    encoder = shutil.copytree(tiny_encoder, tmp_path / "encoder")
    before = snapshot(encoder)
    assert probe("embed", tiny_data[1], "-m", encoder, "--out", encoder / "vectors.npy") == 2
    assert snapshot(encoder) == before


def test_embed_replaces_an_earlier_npy_only_with_overwrite(tiny_encoder, tiny_data, tmp_path, capsys):
    out = tmp_path / "v.npy"
    np.save(out, np.zeros(3))
    before = out.read_bytes()
    assert probe("embed", tiny_data[1], "-m", tiny_encoder, "--out", out) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert probe("embed", tiny_data[1], "-m", tiny_encoder, "--out", out, "--overwrite") == 0
    assert np.load(out).shape == (40, 32)
