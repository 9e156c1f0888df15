"""`classify --out` never destroys what it did not create: every victim is byte-identical afterwards.

Each test builds the folder a careless command line would hit, runs the real CLI, and compares every
byte (and the listing) before and after. Refusals are usage errors (exit 2) that happen before the
model is loaded, so they cost nothing.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from probe_runtime import Classifier
from probe_runtime.classify_files import ClassifyOptions, classify_files
from probe_runtime.cli import main
from probe_runtime.errors import UsageError
from probe_runtime.guard import output_lock

TEXTS = "the movie was great\nthe plot was awful\nexcellent\n"


def classify(*args) -> int:
    return main(["classify", *map(str, args), "--threads", "1"])


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for a directory): equal snapshots, nothing lost."""
    return {p.relative_to(root).as_posix(): (None if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))}


@pytest.fixture
def project(tmp_path, int8_model) -> Path:
    """A user's folder: the model, a corpus file, a directory of .txt files."""
    shutil.copy(int8_model, tmp_path / "model.onnx")
    (tmp_path / "in.txt").write_text(TEXTS, encoding="utf-8")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("lovely hotel", encoding="utf-8")
    return tmp_path


def refused(capsys, *args) -> str:
    """Run the CLI, expect a usage error (exit 2), return its message line."""
    assert classify(*args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]  # earlier lines: summaries of the runs before it
    assert line.startswith("probe-runtime classify: error: ") or line.startswith("probe-runtime: error: ")
    return line


@pytest.mark.parametrize(
    ("inputs", "out", "message"),
    [
        (["in.txt"], "model.onnx", "--out {root}/model.onnx is the model"),
        (["in.txt"], "in.txt", "--out {root}/in.txt is the input"),
        (["docs"], "docs/preds.jsonl", "--out {root}/docs/preds.jsonl is inside the input"),
        (["docs"], "docs/a.txt", "--out {root}/docs/a.txt is inside the input"),
        (["docs/a.txt"], ".", "is a directory"),
    ],
)
def test_an_output_over_the_model_or_an_input_is_refused_and_nothing_changes(project, capsys, inputs, out, message):
    before = snapshot(project)
    line = refused(capsys, project / "model.onnx", *[project / i for i in inputs], "-o", project / out)
    assert message.format(root=project) in line
    assert snapshot(project) == before


def test_an_output_containing_the_model_is_refused(project, capsys):
    before = snapshot(project)
    # Through the guard used by every command: a directory output that holds the model would be replaced.
    with pytest.raises(UsageError, match="contains the model"):
        from probe_runtime.classify_files import check_output

        check_output(str(project), str(project / "model.onnx"), [str(project / "in.txt")])
    assert snapshot(project) == before


def test_an_existing_file_that_is_not_a_prediction_file_is_never_replaced(project, capsys):
    notes = project / "notes.jsonl"
    notes.write_text('{"title": "my notes", "body": "months of work"}\n', encoding="utf-8")
    before = snapshot(project)
    for extra in ([], ["--overwrite"]):
        line = refused(capsys, project / "model.onnx", project / "in.txt", "-o", notes, *extra)
        assert "already exists and is not a prediction file written by probe" in line
    assert snapshot(project) == before


def test_a_previous_prediction_file_is_replaced_only_with_overwrite(project, capsys):
    for name in ("preds.jsonl", "preds.csv", "preds.tsv"):
        out = project / name
        assert classify(project / "model.onnx", project / "in.txt", "-o", out) == 0
        first = out.read_bytes()
        line = refused(capsys, project / "model.onnx", project / "in.txt", "-o", out)
        assert "already exists (a prediction file from an earlier run); pass --overwrite" in line
        assert out.read_bytes() == first
        (project / "in.txt").write_text("lovely hotel\n", encoding="utf-8")
        assert classify(project / "model.onnx", project / "in.txt", "-o", out, "--overwrite") == 0
        assert out.read_bytes() != first
        (project / "in.txt").write_text(TEXTS, encoding="utf-8")


def test_overwrite_keeps_the_mode_the_user_gave_the_previous_output(project):
    out = project / "preds.jsonl"
    assert classify(project / "model.onnx", project / "in.txt", "-o", out) == 0
    out.chmod(0o640)
    assert classify(project / "model.onnx", project / "in.txt", "-o", out, "--overwrite") == 0
    assert out.stat().st_mode & 0o777 == 0o640


def test_a_second_writer_is_refused_at_once_and_the_first_writers_files_are_untouched(project, capsys):
    out = project / "preds.jsonl"
    with output_lock(out):  # another run is writing preds.jsonl
        (project / ".preds.jsonl.partial").write_text('{"id": 1, "label": "pos", "score": 0.9}\n')
        before = snapshot(project)
        line = refused(capsys, project / "model.onnx", project / "in.txt", "-o", out)
        assert f"another probe process is writing {out} right now" in line
        line = refused(capsys, project / "model.onnx", project / "in.txt", "-o", out, "--resume")
        assert "another probe process is writing" in line
        assert snapshot(project) == before
    (project / ".preds.jsonl.partial").unlink()
    assert classify(project / "model.onnx", project / "in.txt", "-o", out) == 0  # free again


def test_two_real_processes_never_interleave(project):
    """The first run holds the lock while it works; the second exits 2 without touching its files."""
    big = project / "big.txt"
    big.write_text("the movie was great and so on\n" * 20_000, encoding="utf-8")
    out = project / "preds.jsonl"
    runtime = str(Path(sys.executable).with_name("probe-runtime"))
    cmd = [runtime, "classify", str(project / "model.onnx"), str(big), "-o", str(out), "--threads", "1"]
    first = subprocess.Popen([*cmd, "--window-rows", "50"], stderr=subprocess.PIPE)
    lock = project / ".preds.jsonl.lock"
    state = project / ".preds.jsonl.partial.json"
    while first.poll() is None and not state.exists():
        pass  # the first run has locked and written its first checkpoint
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    assert second.returncode == 2 and "another probe process is writing" in second.stderr
    assert "Traceback" not in second.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 20_000
    assert not lock.exists()


def unwritable_dir(root: Path) -> Path:
    """A directory this process may not write in: a read-only folder, or (for root, who may write in any
    folder) a /proc entry the kernel refuses."""
    locked = root / "locked"
    locked.mkdir(mode=0o555)
    for candidate in (locked, Path("/proc/1")):
        if candidate.is_dir() and not os.access(candidate, os.W_OK):
            return candidate
    pytest.skip("no unwritable directory available to this user")


def test_an_output_under_a_file_is_refused_before_the_model_loads(project, capsys):
    (project / "notes.md").write_text("a file, not a folder", encoding="utf-8")
    before = snapshot(project)
    out = project / "notes.md" / "preds.jsonl"
    line = refused(capsys, project / "missing-model.onnx", project / "in.txt", "-o", out)
    assert f"--out {out}: {project / 'notes.md'} is a file, not a directory. Choose another --out." in line
    assert snapshot(project) == before  # and the missing model was not even looked at


def test_an_output_in_an_unwritable_place_is_refused_before_the_model_loads(project, capsys):
    place = unwritable_dir(project)
    before = snapshot(project)
    out = place / "preds.jsonl"
    line = refused(capsys, project / "missing-model.onnx", project / "in.txt", "-o", out)
    assert f"--out {out}: no permission to write in {place}. Choose another --out." in line
    assert snapshot(project) == before


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_the_output_gets_the_users_umask(project, umask, mode):
    out = project / "preds.csv"
    previous = os.umask(umask)
    try:
        assert classify(project / "model.onnx", project / "in.txt", "-o", out) == 0
    finally:
        os.umask(previous)
    assert out.stat().st_mode & 0o777 == mode


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--threads", "0", "argument --threads: must be at least 1, got 0"),
        ("--threads", "-3", "argument --threads: must be at least 1, got -3"),
        ("--threads", "two", "argument --threads: expected a whole number, got 'two'"),
        ("--window-rows", "0", "argument --window-rows: must be at least 1, got 0"),
        ("--max-windows", "0", "argument --max-windows: must be at least 1, got 0"),
    ],
)
def test_counts_below_one_are_usage_errors(project, capsys, option, value, message):
    assert main(["classify", str(project / "model.onnx"), str(project / "in.txt"), option, value]) == 2
    assert message in capsys.readouterr().err


def test_the_python_api_guards_its_output_too(project, int8_model):
    clf = Classifier.load(project / "model.onnx", threads=1)
    before = snapshot(project)
    for out, message in [
        (project / "model.onnx", "is the model"),
        (project / "in.txt", "is the input"),
        (project / "docs" / "p.jsonl", "inside the input"),
    ]:
        inputs = [str(project / "docs")] if "docs" in str(out) else [str(project / "in.txt")]
        with pytest.raises(UsageError, match=message):
            classify_files(clf, inputs, str(out))
    assert snapshot(project) == before
    out = project / "p.jsonl"
    classify_files(clf, [str(project / "in.txt")], str(out))
    with pytest.raises(UsageError, match="pass --overwrite"):
        classify_files(clf, [str(project / "in.txt")], str(out))
    classify_files(clf, [str(project / "in.txt")], str(out), ClassifyOptions(overwrite=True))
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [1, 2, 3]


@pytest.mark.skipif(
    "max_windows" not in inspect.signature(Classifier.load).parameters, reason="Classifier.load has no max_windows"
)
def test_max_windows_reaches_the_classifier(project, capsys):
    long_text = "the movie was great and lovely " * 10 + "the plot was awful and dull " * 400  # turns later
    (project / "long.txt").write_text(long_text + "\n", encoding="utf-8")
    outs = {}
    for cap in ("1", "50"):
        out = project / f"cap{cap}.jsonl"
        args = ["--long-text", "window", "--max-windows", cap, "-o", out]
        assert classify(project / "model.onnx", project / "long.txt", *args) == 0
        outs[cap] = json.loads(out.read_text())
    clf = Classifier.load(project / "model.onnx", threads=1, long_text="window", max_windows=1)
    assert outs["1"]["score"] == round(clf.classify([long_text])[0].score, 6)
    assert (outs["1"]["label"], outs["1"]["score"]) != (outs["50"]["label"], outs["50"]["score"])
