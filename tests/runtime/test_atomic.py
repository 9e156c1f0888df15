"""atomic_path / atomic_dir: a target is either the old one or the complete new one, never half, never
neither; and it gets the permissions any file the user creates gets (their umask), or keeps its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from probe_runtime.atomic import atomic_dir, atomic_path

RUNTIME_SRC = str(Path(__file__).resolve().parents[2] / "runtime" / "src")


def test_the_target_appears_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "out" / "model.onnx"
    with atomic_path(target) as tmp:
        tmp.write_text("new")
        assert not target.exists()
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["model.onnx"]


def test_a_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_a_failure_keeps_the_old_directory_and_leaves_no_staging(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "config.json").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as staging:
        (staging / "config.json").write_text("half")
        raise RuntimeError("interrupted")
    assert (target / "config.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


@pytest.fixture
def umask():
    """Set the process umask for one test, and put the previous one back."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


@pytest.mark.parametrize(("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775)])
def test_new_files_and_directories_get_the_users_umask(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    with atomic_path(tmp_path / "model.onnx") as tmp:
        tmp.write_bytes(b"x")
    with atomic_dir(tmp_path / "model") as staging:
        (staging / "config.json").write_text("{}")
    assert (tmp_path / "model.onnx").stat().st_mode & 0o777 == file_mode
    assert (tmp_path / "model").stat().st_mode & 0o777 == dir_mode
    assert (tmp_path / "model" / "config.json").stat().st_mode & 0o777 == file_mode


def test_a_replaced_file_or_directory_keeps_the_mode_the_user_gave_it(tmp_path, umask):
    umask(0o022)
    (tmp_path / "model.onnx").write_bytes(b"old")
    os.chmod(tmp_path / "model.onnx", 0o640)
    (tmp_path / "model").mkdir(mode=0o750)
    with atomic_path(tmp_path / "model.onnx") as tmp:
        tmp.write_bytes(b"new")
    with atomic_dir(tmp_path / "model") as staging:
        (staging / "config.json").write_text("{}")
    assert (tmp_path / "model.onnx").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o750


# A child process replaces the target and kills itself (SIGKILL: no cleanup runs) at its N-th executed
# line inside atomic.py; N runs over every line, so every point a crash can hit is tried.
CRASH_AT_LINE = """
import os, signal, sys
from pathlib import Path
from probe_runtime import atomic

kind, target, stop = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
seen = 0

def tracer(frame, event, arg):
    global seen
    if frame.f_code.co_filename == atomic.__file__ and event == "line":
        seen += 1
        if seen == stop:
            os.kill(os.getpid(), signal.SIGKILL)
    return tracer

sys.settrace(tracer)
if kind == "file":
    with atomic.atomic_path(target) as tmp:
        tmp.write_text("new")
else:
    with atomic.atomic_dir(target) as staging:
        (staging / "a.txt").write_text("new")
        (staging / "b.txt").write_text("new")
sys.settrace(None)
print(seen)
"""


def _crash_at(kind: str, target: Path, stop: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": RUNTIME_SRC}
    return subprocess.run(
        [sys.executable, "-c", CRASH_AT_LINE, kind, str(target), str(stop)], capture_output=True, text=True, env=env
    )


def _contents(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.iterdir())}


def _old_target(root: Path, kind: str) -> Path:
    root.mkdir()
    target = root / "target"
    if kind == "file":
        target.write_text("old")
    else:
        target.mkdir()
        (target / "a.txt").write_text("old")
        (target / "b.txt").write_text("old")
    return target


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_a_crash_at_any_line_leaves_the_old_or_the_new_never_neither(tmp_path, kind):
    lines = int(_crash_at(kind, _old_target(tmp_path / "probe", kind), 10**9).stdout)  # runs without a crash
    assert lines > 5
    for stop in range(1, lines + 1):
        root = tmp_path / f"crash-{stop}"
        target = _old_target(root, kind)
        result = _crash_at(kind, target, stop)
        assert result.returncode == -9, (stop, result.stderr)
        if kind == "file":
            assert target.read_text() in ("old", "new"), stop
            continue
        old = {"a.txt": "old", "b.txt": "old"}
        new = {"a.txt": "new", "b.txt": "new"}
        if target.is_dir():
            assert _contents(target) in (old, new), stop
        else:  # between the two renames: the old directory survives under its .target.old-* name
            aside = [p / "target" for p in root.glob(".target.old-*")]
            assert len(aside) == 1 and _contents(aside[0]) == old, (stop, sorted(os.listdir(root)))
