"""Both command lines behave alike: --help and --version everywhere, global options after the command,
one-line errors for an unavailable execution provider, and ids that say where a row is."""

from __future__ import annotations

import json
import subprocess
import sys

import onnxruntime as ort
import probe_export
import probe_runtime
import pytest
from probe_export.cli import main as probe_main
from probe_runtime import Classifier, UsageError
from probe_runtime.classify_files import Progress, classify_files
from probe_runtime.cli import main

COMMANDS = ["classify", "info", "bench", "serve"]


def test_probe_runtime_and_each_command_answer_help_as_a_program():
    for argv in ([], *([c] for c in COMMANDS)):
        result = subprocess.run(
            [sys.executable, "-m", "probe_runtime.cli", *argv, "--help"], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"usage: probe-runtime {' '.join(argv)}".rstrip())


@pytest.mark.parametrize("argv", [["--version"], ["classify", "--version"], ["info", "--version"], ["bench", "-V"]])
def test_probe_runtime_version_before_or_after_the_command(argv, capsys):
    if argv == ["bench", "-V"]:  # only the long spelling exists: -V is an unknown option, one line
        assert main(argv) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
        return
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == f"probe-runtime {probe_runtime.__version__}"


@pytest.mark.parametrize("argv", [["--version"], ["export", "--version"], ["train", "--version"]])
def test_probe_version_before_or_after_the_command(argv, capsys):
    assert probe_main(argv) == 0
    assert capsys.readouterr().out.strip() == f"probe {probe_export.__version__}"


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_before_or_after_the_command_adds_the_traceback(tmp_path, capsys, where):
    missing = str(tmp_path / "missing.onnx")
    argv = ["-v", "info", missing] if where == "before" else ["info", missing, "-v"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("probe-runtime: error: model file not found")
    assert main(["info", missing]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_an_unavailable_execution_provider_is_one_usage_line_naming_the_available_ones(int8_model, tmp_path, capsys):
    with pytest.raises(UsageError, match="'NoSuchExecutionProvider' is not available") as raised:
        Classifier.load(int8_model, providers=["NoSuchExecutionProvider"])
    assert "\n" not in str(raised.value)
    assert all(name in str(raised.value) for name in ort.get_available_providers())
    with pytest.raises(UsageError, match="providers must be a non-empty list"):
        Classifier.load(int8_model, providers="CPUExecutionProvider")
    src = tmp_path / "in.txt"
    src.write_text("the movie was great\n", encoding="utf-8")
    for command in (["classify", str(int8_model), str(src)], ["bench", str(int8_model)]):
        assert main([*command, "--provider", "NoSuchExecutionProvider"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "is not available" in err[0] and "CPUExecutionProvider" in err[0]


def test_the_cpu_provider_by_name_classifies_as_the_default(int8_model, tmp_path):
    clf = Classifier.load(int8_model, threads=1, providers=["CPUExecutionProvider"])
    assert clf.providers == ("CPUExecutionProvider",)
    assert clf.predict(["excellent"]) == Classifier.load(int8_model, threads=1).predict(["excellent"])


def test_ids_are_the_line_a_row_starts_on_in_every_format(int8_model, tmp_path, capsys):
    """--help promises line numbers: the id of every row points at the line that holds (or starts) its text."""
    files = {
        "in.txt": "excellent\n\nthe plot was awful\n",
        "in.jsonl": '{"text": "excellent"}\n\n{"text": "the plot was awful"}\n',
        "in.csv": 'text,n\nexcellent,1\n"the plot\nwas awful",2\nfine,3\n',
    }
    expected = {"in.txt": [1, 3], "in.jsonl": [1, 3], "in.csv": ["2", "3", "5"]}
    for name, content in files.items():
        src, out = tmp_path / name, tmp_path / f"{name}.out.csv"
        src.write_text(content, encoding="utf-8")
        assert main(["classify", str(int8_model), str(src), "-o", str(out), "--threads", "1"]) == 0
        ids = [line.split(",")[0] for line in out.read_text(encoding="utf-8").splitlines()[1:]]
        assert ids == [str(i) for i in expected[name]]
        lines = content.splitlines()
        for row_id in ids:
            first_line = lines[int(row_id) - 1]
            assert first_line and not first_line.startswith("text,")  # a row's own line, never the header
    capsys.readouterr()
    assert main(["classify", "--help"]) == 0
    assert "ids are LINE NUMBERS" in capsys.readouterr().out


def test_text_field_and_text_column_are_one_option_in_classify_and_bench(int8_model, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"body": t}) + "\n" for t in ["excellent", "awful", "fine"]), encoding="utf-8")
    for flag in ("--text-column", "--text-field"):
        out = tmp_path / f"{flag}.jsonl"
        assert main(["classify", str(int8_model), str(src), "-o", str(out), flag, "body", "--threads", "1"]) == 0
        assert len(out.read_text(encoding="utf-8").splitlines()) == 3
        bench = ["bench", str(int8_model), "--texts", str(src), flag, "body", "--json", "--batch-sizes", "2"]
        assert main([*bench, "--repeat", "1", "--warmup", "1", "--latency-texts", "2"]) == 0
        assert json.loads(capsys.readouterr().out)["texts"] == 3


def test_the_file_classifier_prints_nothing_and_reports_progress_to_a_callback(int8_model, tmp_path, capsys):
    src, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    src.write_text("excellent\n\nawful\n" * 5, encoding="utf-8")
    reports: list[Progress] = []
    clf = Classifier.load(int8_model, threads=1)
    summary = classify_files(clf, [str(src)], str(out), progress=reports.append)
    assert capsys.readouterr() == ("", "")
    assert (summary.read, summary.classified, dict(summary.skipped)) == (15, 10, {"empty": 5})
    assert reports[0] == Progress(read=0, done=0, total=src.stat().st_size)
    assert reports[-1] == Progress(read=15, done=src.stat().st_size, total=src.stat().st_size)
    assert [r.read for r in reports] == sorted(r.read for r in reports)


def test_spin_and_no_spin_classify_alike_and_spin_is_refused_with_ray(int8_model, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("the movie was great\nthe plot was awful\n", encoding="utf-8")
    outputs = []
    for flag in ("--spin", "--no-spin"):
        out = tmp_path / f"out{flag}.jsonl"
        assert main(["classify", str(int8_model), str(src), "-o", str(out), flag]) == 0
        outputs.append(out.read_text(encoding="utf-8"))
    assert outputs[0] == outputs[1]
    capsys.readouterr()
    assert main(["classify", str(int8_model), str(src), "--ray", "-o", str(tmp_path / "ray"), "--spin"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--spin/--no-spin is not available with --ray" in err[0]
