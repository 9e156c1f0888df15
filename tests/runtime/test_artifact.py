"""The artifact contract: what the file carries, and clear errors for files that are not ours."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import onnx
import pytest
from probe_runtime import SCHEMA_VERSION, ArtifactError, Classifier
from probe_runtime.artifact import KEY_MANIFEST, KEY_SCHEMA, KEY_TOKENIZER
from probe_runtime.cli import main

from tests.runtime.tampering import rewrite


def _rewrite_metadata(src, dst, **changes):
    return rewrite(src, dst, props=changes)


def test_the_file_carries_tokenizer_labels_settings_and_figures(int8_model):
    props = {p.key: p.value for p in onnx.load(str(int8_model)).metadata_props}
    # A single-label transformer file keeps version 3, below the newest (SCHEMA_VERSION), so version-3 runtimes read it
    assert props[KEY_SCHEMA] == "3" and SCHEMA_VERSION == 4
    assert json.loads(props[KEY_TOKENIZER])["model"]["type"] == "WordPiece"
    manifest = json.loads(props[KEY_MANIFEST])
    assert manifest["labels"] == ["neg", "pos"]
    assert manifest["pooling"] == "mean"
    assert manifest["quantization"] == "int8"
    assert manifest["max_length"] == 64
    assert {"accuracy", "macro_f1"} <= manifest["training"].keys()
    assert {"fp32", "int8", "fused_ops"} <= manifest["verification"].keys()


def test_the_artifact_runs_alone_without_any_sidecar_file(int8_model, tmp_path):
    lonely = tmp_path / "only.onnx"
    shutil.copy(int8_model, lonely)
    assert list(tmp_path.iterdir()) == [lonely]
    assert Classifier.load(lonely).predict("great") in ("neg", "pos")


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ArtifactError, match="not found"):
        Classifier.load(tmp_path / "nope.onnx")


def test_a_file_that_is_not_onnx_is_refused(tmp_path):
    bogus = tmp_path / "notes.onnx"
    bogus.write_text("hello, I am a text file")
    with pytest.raises(ArtifactError, match="not a readable ONNX model"):
        Classifier.load(bogus)


def test_a_truncated_file_is_refused(int8_model, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(int8_model.read_bytes()[: int8_model.stat().st_size // 2])
    with pytest.raises(ArtifactError, match="corrupted"):
        Classifier.load(broken)


def test_an_onnx_model_that_is_not_ours_is_refused(int8_model, tmp_path):
    foreign = _rewrite_metadata(int8_model, tmp_path / "foreign.onnx", **{KEY_SCHEMA: None})
    with pytest.raises(ArtifactError, match="not a probe artifact"):
        Classifier.load(foreign)


def test_an_unknown_schema_version_is_refused_with_the_fix(int8_model, tmp_path):
    future = _rewrite_metadata(int8_model, tmp_path / "future.onnx", **{KEY_SCHEMA: "99"})
    with pytest.raises(ArtifactError, match=r"schema version .99.*re-export"):
        Classifier.load(future)


def test_a_damaged_manifest_is_refused(int8_model, tmp_path):
    damaged = _rewrite_metadata(int8_model, tmp_path / "damaged.onnx", **{KEY_MANIFEST: "{not json"})
    with pytest.raises(ArtifactError, match="damaged"):
        Classifier.load(damaged)


def test_the_cli_reports_bad_files_without_a_traceback(tmp_path, capsys):
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"\x00\x01garbage")
    assert main(["info", str(bogus)]) == 1
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_info_json_shows_what_the_file_carries(int8_model, capsys):
    assert main(["info", str(int8_model), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["labels"] == ["neg", "pos"]
    assert info["verification"]["fp32"]["max_abs_diff"] < 1e-4
    assert info["size_bytes"] == int8_model.stat().st_size


def test_info_prints_a_readable_summary(int8_model, capsys):
    assert main(["info", str(int8_model)]) == 0
    out = capsys.readouterr().out
    assert "labels" in out and "verification" in out and "int8" in out


def test_info_summarises_int8_quality_against_fp32(int8_model, capsys):
    assert main(["info", str(int8_model)]) == 0
    out = capsys.readouterr().out
    assert "int8 quality" in out and "flipped" in out and "gate" in out


def test_info_says_when_a_file_answers_differently_for_a_text_in_a_batch(int8_model, capsys):
    assert main(["info", str(int8_model)]) == 0  # per-batch int8, asked for by name
    out = capsys.readouterr().out
    assert "can depend on the other texts in its call" in out
    line = next(ln for ln in out.splitlines() if "McNemar" in ln)  # the candidate's line under "precision:"
    assert line.split()[0] == "int8" and "flipped" in line and "depends on the batch" in line


def _cli(*argv, stdout=subprocess.PIPE):
    code = "from probe_runtime.cli import run; run()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    argv = [sys.executable, "-c", code, *argv]
    return subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_a_reader_that_goes_away_ends_info_quietly(int8_model, extra):
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head -1` having exited: every write now fails with EPIPE
    try:
        done = _cli("info", str(int8_model), *extra, stdout=write_end)
    finally:
        os.close(write_end)
    assert done.returncode == 141  # like a Unix tool ended by SIGPIPE, and quietly
    assert done.stderr == ""


def test_verbose_adds_the_traceback_and_plain_runs_keep_one_line(tmp_path):
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"\x00\x01garbage")
    plain = _cli("info", str(bogus))
    assert plain.returncode == 1 and "Traceback" not in plain.stderr and len(plain.stderr.splitlines()) == 1
    for argv in (["-v", "info", str(bogus)], ["info", str(bogus), "--verbose"]):
        verbose = _cli(*argv)
        assert verbose.returncode == 1
        assert "Traceback" in verbose.stderr and "not a readable ONNX model" in verbose.stderr


def test_version(capsys):
    from probe_runtime import __version__

    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_a_usage_error_exits_2(int8_model, tmp_path, capsys):
    texts = tmp_path / "t.txt"
    texts.write_text("great\n")
    argv = ["classify", str(int8_model), str(texts), "--long-text", "window", "--window-stride", "10000"]
    assert main(argv) == 2
    assert "window overlap must be between" in capsys.readouterr().err
