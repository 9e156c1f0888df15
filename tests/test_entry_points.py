"""Every entry point in benchmarks/ and research/ runs as a module and answers ``--help``.

The benchmarks and studies are run rarely and by hand, so nothing else notices when a move or a rename
breaks one of them. Entry points are found on disk (any module there with a ``__main__`` block, and any
package with a ``__main__.py``, such as ``benchmarks.harness``), so a new one is covered without editing this
file. One child process runs them all, so the shared heavy imports (torch, the exporter) are paid once.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.common import paths

ROOT = Path(__file__).resolve().parents[1]
# Every subpackage of benchmarks/, not its git-ignored scratch (.work/, the harness's venvs in .envs/).
SOURCES = sorted(
    p
    for p in [*ROOT.glob("benchmarks/**/*.py"), *ROOT.glob("research/*/*.py")]
    if not any(part.startswith(".") for part in p.relative_to(ROOT).parts)
)

# Runs in a fresh interpreter at the repository root: each module as `python -m MODULE --help` would.
CHILD = """
import contextlib, io, json, runpy, sys
answers = {}
for module in sys.argv[1:]:
    sys.argv = [module, "--help"]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        answers[module] = ["returned without exiting", out.getvalue()]
    except SystemExit as stop:
        answers[module] = [stop.code or 0, out.getvalue()]
    except BaseException as exc:
        answers[module] = [f"{type(exc).__name__}: {exc}", out.getvalue()]
print(json.dumps(answers))
"""


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__main__" else parts)  # `python -m PACKAGE` runs its __main__


def entry_points() -> list[str]:
    return [_module(p) for p in SOURCES if 'if __name__ == "__main__":' in p.read_text(encoding="utf-8")]


def test_the_harness_and_every_study_are_entry_points():
    found = entry_points()
    assert {"benchmarks.harness", "benchmarks.harness.contender", "benchmarks.quality_report"} <= set(found)
    assert "research.int8_candidates.study" in found
    assert len([m for m in found if m.startswith("research.")]) >= 9


def test_every_entry_point_answers_help_as_a_module():
    modules = entry_points()
    child = subprocess.run(
        [sys.executable, "-c", CHILD, *modules], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert child.returncode == 0, child.stderr[-2000:]
    answers = json.loads(child.stdout.strip().splitlines()[-1])
    failed = {m: (code, text[-300:]) for m, (code, text) in answers.items() if code != 0 or "usage:" not in text}
    assert not failed, failed


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}


@pytest.mark.parametrize("path", SOURCES, ids=_module)
def test_no_path_hacks_and_no_study_imports_another(path: Path):
    assert "sys.path" not in path.read_text(encoding="utf-8")
    own = _module(path).split(".")[:2]
    other_studies = {m for m in _imports(path) if m.startswith("research.") and m.split(".")[:2] != own}
    assert not other_studies, f"{path.relative_to(ROOT)} imports {other_studies}: share it through benchmarks/"


def test_the_data_root_is_probe_data_when_set(tmp_path, monkeypatch):
    (tmp_path / "sst2").mkdir()
    (tmp_path / "sst2" / "train.csv").write_text("text,label\nfine,pos\n", encoding="utf-8")
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path))
    assert paths.data_root() == tmp_path
    assert paths.dataset_file("sst2") == tmp_path / "sst2" / "train.csv"


def test_a_missing_dataset_is_one_line_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path))
    with pytest.raises(SystemExit) as stop:
        paths.dataset_file("sms_spam", "test")
    message = str(stop.value)
    assert "\n" not in message
    assert str(tmp_path / "sms_spam" / "test.csv") in message and "PROBE_DATA" in message
