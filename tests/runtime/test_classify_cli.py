"""`probe-runtime classify`: every input kind in, one honest row per classified text out, a true summary."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from probe_runtime import Classifier
from probe_runtime.cli import main

RUNTIME = str(Path(sys.executable).with_name("probe-runtime"))
TEXTS = ["the movie was great", "the plot was awful", "excellent", "our dinner felt poor", "the hotel was dull"]


def classify(model, *args) -> int:
    return main(["classify", str(model), *map(str, args), "--threads", "1"])


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def expected(tiny_artifacts) -> dict[str, str]:
    clf = Classifier.load(tiny_artifacts["int8"], threads=1)
    return dict(zip(TEXTS, clf.predict(TEXTS)))


def test_a_text_file_gives_one_jsonl_row_per_line_in_input_order(int8_model, tmp_path, expected, capsys):
    src, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    src.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    assert classify(int8_model, src, "-o", out) == 0
    rows = jsonl(out)
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["label"] for r in rows] == [expected[t] for t in TEXTS]
    assert all(set(r) == {"id", "label", "score"} and 0.5 <= r["score"] <= 1 for r in rows)
    assert "read 5 rows, classified 5, skipped 0" in capsys.readouterr().err


def test_empty_and_whitespace_rows_are_counted_not_classified_not_written(int8_model, tmp_path, capsys):
    src, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    src.write_bytes(b"excellent\r\n\r\n   \r\n\tawful\r\n")
    assert classify(int8_model, src, "-o", out) == 0
    assert [r["id"] for r in jsonl(out)] == [1, 4]
    summary = capsys.readouterr().err
    assert "read 4 rows, classified 2, skipped 2 (empty 2)" in summary
    distribution = {r["label"] for r in jsonl(out)}
    assert all(f"{label} " in summary for label in distribution)


def test_csv_in_csv_out_with_an_id_column_and_every_score(int8_model, tmp_path, expected):
    src, out = tmp_path / "in.csv", tmp_path / "preds.csv"
    with open(src, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("key", "body"), *[(f"k{i}", t) for i, t in enumerate(TEXTS)]])
    assert classify(int8_model, src, "-o", out, "--text-column", "body", "--id-column", "key", "--all-scores") == 0
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["id", "label", "score", "score_neg", "score_pos"]
    assert [r["id"] for r in rows] == [f"k{i}" for i in range(len(TEXTS))]
    assert [r["label"] for r in rows] == [expected[t] for t in TEXTS]
    for r in rows:
        assert float(r["score_neg"]) + float(r["score_pos"]) == pytest.approx(1, abs=2e-6)
        assert float(r["score"]) == max(float(r["score_neg"]), float(r["score_pos"]))


def test_jsonl_with_text_field_tsv_and_a_directory_in_one_run(int8_model, tmp_path, expected):
    (tmp_path / "a.jsonl").write_text(json.dumps({"body": TEXTS[0]}) + "\n", encoding="utf-8")
    (tmp_path / "b.tsv").write_text(f"text\tx\n{TEXTS[1]}\t1\n", encoding="utf-8")
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "one.txt").write_text(TEXTS[2], encoding="utf-8")
    (docs / "sub" / "two.txt").write_text(TEXTS[3] + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    inputs = [tmp_path / "a.jsonl", tmp_path / "b.tsv", docs]
    assert classify(int8_model, *inputs, "-o", out, "--text-field", "body") == 1  # b.tsv has no "body"
    assert not out.exists()
    (tmp_path / "b.tsv").write_text(f"body\tx\n{TEXTS[1]}\t1\n", encoding="utf-8")
    assert classify(int8_model, *inputs, "-o", out, "--text-field", "body") == 0
    rows = jsonl(out)
    assert [r["id"] for r in rows] == [
        f"{tmp_path / 'a.jsonl'}:1",
        f"{tmp_path / 'b.tsv'}:2",
        str(docs / "one.txt"),
        str(docs / "sub" / "two.txt"),
    ]
    assert [r["label"] for r in rows] == [expected[t] for t in TEXTS[:4]]


def test_stdin_to_stdout_through_a_pipe_with_no_progress_bar(int8_model):
    result = subprocess.run(
        [RUNTIME, "classify", str(int8_model), "-", "--threads", "1"],
        input="\n".join(TEXTS).encode(),
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    stderr = result.stderr.decode().strip().splitlines()
    assert len(stderr) == 1 and stderr[0].startswith("read 5 rows, classified 5, skipped 0")


def test_a_terminal_gets_a_progress_bar_with_rate_and_eta(int8_model, tmp_path):
    pty = pytest.importorskip("pty")
    import fcntl
    import struct
    import termios

    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS * 40) + "\n", encoding="utf-8")
    master, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    cmd = [RUNTIME, "classify", str(int8_model), str(src), "-o", str(tmp_path / "out.jsonl"), "--window-rows", "50"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=terminal)
    os.close(terminal)
    shown = b""
    while chunk := _read_or_eof(master):
        shown += chunk
    assert proc.wait() == 0
    bar = shown.decode().replace("\r", "\n")
    assert "classifying: 100%" in bar and "rows/s" in bar and "<00:00" in bar  # percent, rate, ETA


def _read_or_eof(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # Linux reports the closed terminal as EIO
        return b""


def test_undecodable_bytes_fail_by_default_and_leave_no_output(int8_model, tmp_path, capsys):
    src, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    src.write_bytes(b"excellent\nawful \xff\n")
    assert classify(int8_model, src, "-o", out) == 1
    err = capsys.readouterr().err
    assert "in.txt, line 2" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == [src]


def test_errors_skip_and_replace(int8_model, tmp_path, capsys):
    src, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    src.write_bytes(b"excellent\nawful \xff\n")
    assert classify(int8_model, src, "-o", out, "--errors", "skip") == 0
    assert [r["id"] for r in jsonl(out)] == [1]
    assert "read 2 rows, classified 1, skipped 1 (undecodable 1)" in capsys.readouterr().err
    assert classify(int8_model, src, "-o", out, "--errors", "replace", "--overwrite") == 0
    assert [r["id"] for r in jsonl(out)] == [1, 2]


def test_a_one_megabyte_line_is_classified_as_one_row(int8_model, tmp_path):
    src, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    src.write_text("excellent\n" + "the plot was awful " * 55_000 + "\nawful\n", encoding="utf-8")
    assert src.stat().st_size > 1_000_000
    assert classify(int8_model, src, "-o", out) == 0
    assert [r["id"] for r in jsonl(out)] == [1, 2, 3]


def test_an_input_is_never_overwritten(int8_model, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": "excellent"}) + "\n", encoding="utf-8")
    before = src.read_bytes()
    assert classify(int8_model, src, "-o", src) == 2
    assert src.read_bytes() == before


@pytest.mark.parametrize(
    "args",
    [
        ["-", "--resume"],
        ["-", "-o", "out.jsonl", "--resume"],
        ["in.txt", "--id-column", "key"],
        ["-", "-"],
        ["in.txt", "--errors", "ignore"],
        ["in.txt", "-o", "."],
    ],
)
def test_usage_mistakes_exit_2(int8_model, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.txt").write_text("excellent\n", encoding="utf-8")
    assert classify(int8_model, *args) == 2


def test_failures_exit_1_with_a_message_and_no_traceback(int8_model, tmp_path, capsys):
    assert classify(int8_model, tmp_path / "missing.txt") == 1
    assert classify(tmp_path / "missing.onnx", tmp_path / "missing.txt") == 1
    err = capsys.readouterr().err
    assert "input file not found" in err and "model file not found" in err and "Traceback" not in err


def test_the_output_format_follows_the_name_or_format(int8_model, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("excellent\n", encoding="utf-8")
    assert classify(int8_model, src, "-o", tmp_path / "p.tsv") == 0
    assert (tmp_path / "p.tsv").read_text().splitlines()[0] == "id\tlabel\tscore"
    assert classify(int8_model, src, "-o", tmp_path / "p.out", "--format", "csv") == 0
    assert (tmp_path / "p.out").read_text().splitlines()[0] == "id,label,score"
