"""Nothing lost: an interrupted `classify` keeps its partial output and `--resume` finishes it exactly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from probe_runtime.cli import main

from tests.runtime.tampering import model_variant, rewrite_keeping_size_and_mtime

RUNTIME = str(Path(sys.executable).with_name("probe-runtime"))
WORDS = ["the movie was great", "the plot was awful and dull", "excellent", "our dinner felt poor", "lovely hotel"]
ROWS = 3000
# Tiny windows so the small input spans hundreds of checkpoints and a kill lands midway.
OPTIONS = ["--window-rows", "10", "--threads", "1", "--all-scores"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "in.txt"
    lines = [f"{WORDS[i % 5]} {'and so on ' * (i % 7)}" if i % 97 else "" for i in range(ROWS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(int8_model_path, corpus, tmp_path_factory) -> dict[str, bytes]:
    """Uninterrupted runs, one per output format."""
    root = tmp_path_factory.mktemp("reference")
    out = {}
    for fmt in ("jsonl", "csv"):
        path = root / f"ref.{fmt}"
        assert main(["classify", str(int8_model_path), str(corpus), "-o", str(path), *OPTIONS]) == 0
        out[fmt] = path.read_bytes()
    return out


@pytest.fixture(scope="module")
def int8_model_path(tiny_artifacts) -> Path:
    return tiny_artifacts["int8"]


def interrupted(
    model: Path, corpus: Path, out: Path, sig: int, extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """Start a run in a subprocess, wait until some windows are checkpointed, then send ``sig``."""
    state = out.with_name(f".{out.name}.partial.json")
    cmd = [RUNTIME, "classify", str(model), str(corpus), "-o", str(out), *OPTIONS]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if json.loads(state.read_text())["progress"]["read"] >= 200:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.002)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert not out.exists(), "the run finished before it could be interrupted"
    return subprocess.CompletedProcess(cmd, proc.returncode, b"", stderr)


def resume(model: Path, corpus: Path, out: Path, *extra: str) -> int:
    return main(["classify", str(model), str(corpus), "-o", str(out), *OPTIONS, "--resume", *extra])


def test_a_run_killed_with_sigkill_resumes_to_the_same_bytes(int8_model_path, corpus, reference, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    interrupted(int8_model_path, corpus, out, signal.SIGKILL)
    partial = tmp_path / ".out.jsonl.partial"
    assert partial.stat().st_size > 0
    assert resume(int8_model_path, corpus, out) == 0
    assert out.read_bytes() == reference["jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
    summary = capsys.readouterr().err
    blank = len(range(0, ROWS, 97))
    assert f"read {ROWS} rows, classified {ROWS - blank}, skipped {blank} (empty {blank})" in summary
    assert "resumed after row" in summary


def test_sigterm_says_how_to_resume_and_csv_keeps_one_header(int8_model_path, corpus, reference, tmp_path):
    out = tmp_path / "out.csv"
    result = interrupted(int8_model_path, corpus, out, signal.SIGTERM)
    assert result.returncode == 130
    assert b"--resume" in result.stderr and b"Traceback" not in result.stderr
    assert resume(int8_model_path, corpus, out) == 0
    assert out.read_bytes() == reference["csv"]


def test_resume_refuses_a_changed_input_or_option_and_a_plain_run_starts_over(
    int8_model_path, corpus, reference, tmp_path, capsys
):
    out = tmp_path / "out.jsonl"
    interrupted(int8_model_path, corpus, out, signal.SIGKILL)
    assert resume(int8_model_path, corpus, out, "--errors", "replace") == 1
    assert "different options" in capsys.readouterr().err
    changed = tmp_path / "in.txt"
    changed.write_bytes(corpus.read_bytes() + b"one more line\n")
    assert resume(int8_model_path, changed, out) == 1
    assert "different inputs" in capsys.readouterr().err
    assert (tmp_path / ".out.jsonl.partial").exists()  # a refused resume keeps the work for the right command
    assert main(["classify", str(int8_model_path), str(corpus), "-o", str(out), *OPTIONS]) == 0
    assert out.read_bytes() == reference["jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.jsonl"]


def test_resume_with_nothing_to_resume_runs_from_the_start(int8_model_path, corpus, reference, tmp_path):
    out = tmp_path / "out.jsonl"
    assert resume(int8_model_path, corpus, out) == 0
    assert out.read_bytes() == reference["jsonl"]


def test_resume_refuses_a_model_edited_in_place_with_the_same_size_and_mtime(
    int8_model_path, corpus, reference, tmp_path, capsys
):
    model = tmp_path / "model.onnx"
    model.write_bytes(model_variant(int8_model_path, "edition A"))
    out = tmp_path / "out.jsonl"
    interrupted(model, corpus, out, signal.SIGKILL)
    partial = (tmp_path / ".out.jsonl.partial").read_bytes()
    original = model.read_bytes()
    rewrite_keeping_size_and_mtime(model, model_variant(int8_model_path, "edition B"))
    assert resume(model, corpus, out) == 1
    err = capsys.readouterr().err
    assert f"cannot resume {out}: the partial output was made with a different model (the content of {model}" in err
    assert "Traceback" not in err
    assert (tmp_path / ".out.jsonl.partial").read_bytes() == partial  # the work is kept for the right model
    rewrite_keeping_size_and_mtime(model, original)
    assert resume(model, corpus, out) == 0
    assert out.read_bytes() == reference["jsonl"]


def test_resume_refuses_an_input_whose_classified_part_was_edited_in_place(
    int8_model_path, corpus, reference, tmp_path, capsys
):
    source = tmp_path / "in.txt"
    original = corpus.read_bytes()
    source.write_bytes(original)
    out = tmp_path / "out.jsonl"
    interrupted(int8_model_path, source, out, signal.SIGKILL)
    partial = (tmp_path / ".out.jsonl.partial").read_bytes()
    edited = original.replace(b"the movie was great", b"the movie was awful", 1)  # line 1: surely classified
    rewrite_keeping_size_and_mtime(source, edited)
    assert resume(int8_model_path, source, out) == 1
    err = capsys.readouterr().err
    assert f"cannot resume: {source.resolve()} changed since the interrupted run (its first" in err
    assert "Traceback" not in err
    assert (tmp_path / ".out.jsonl.partial").read_bytes() == partial
    assert not out.exists()
    rewrite_keeping_size_and_mtime(source, original)
    assert resume(int8_model_path, source, out) == 0
    assert out.read_bytes() == reference["jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.jsonl"]
