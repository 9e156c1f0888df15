"""`probe-runtime bench`: what it reports and how it fails. Speed itself is never asserted here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from probe_runtime.bench import sample_texts
from probe_runtime.cli import main

FAST = ["--repeat", "1", "--warmup", "2", "--latency-texts", "5"]


def bench_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(["bench", *argv, "--json", *FAST]) == 0
    return json.loads(capsys.readouterr().out)


def test_builtin_sample_ships_with_the_runtime() -> None:
    texts = sample_texts()
    assert len(texts) >= 200
    assert all(t.strip() and not t.startswith("# ") for t in texts)
    assert len(set(texts)) == len(texts)


def test_json_report_has_latency_percentiles_and_one_throughput_per_batch_size(
    int8_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = bench_json(capsys, str(int8_model), "--threads", "1", "--batch-sizes", "1,4,16")
    assert report["texts"] == len(sample_texts())
    assert report["threads"] == 1
    assert report["quantization"] == "int8"
    lat = report["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
    assert lat["calls"] == 5
    assert [row["batch_size"] for row in report["throughput"]] == [1, 4, 16]
    for row in report["throughput"]:
        assert 0 < row["min"] <= row["texts_per_s"] <= row["max"]
    assert report["tokens"]["max"] >= report["tokens"]["p50"] >= 2  # at least the special tokens


def test_user_text_file_is_benchmarked_and_blank_lines_are_skipped(
    fp32_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mine.txt"
    path.write_text("the movie was great\n\nthe plot was dull\nour dinner was lovely\n", encoding="utf-8")
    report = bench_json(capsys, str(fp32_model), "--texts", str(path), "--batch-sizes", "2")
    assert report["texts"] == 3
    assert report["source"] == str(path)
    assert report["quantization"] == "none"


def test_readable_table_names_every_figure(int8_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", str(int8_model), "--batch-sizes", "1,8", *FAST]) == 0
    out = capsys.readouterr().out
    for needle in ("p50", "p95", "p99", "texts/s", "built-in sample", "tokens per text"):
        assert needle in out
    assert len([line for line in out.splitlines() if line.split()[:1] in (["1"], ["8"])]) == 2


def test_an_empty_text_file_is_a_clear_error(
    int8_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("\n  \n", encoding="utf-8")
    assert main(["bench", str(int8_model), "--texts", str(path)]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and "no non-empty texts" in err


def test_a_missing_model_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", str(tmp_path / "nope.onnx")]) == 1
    assert "not found" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--batch-sizes", "0,8"], ["--batch-sizes", "a,b"], ["--threads", "0"]])
def test_bad_numbers_are_usage_errors(int8_model: Path, argv: list[str]) -> None:
    assert main(["bench", str(int8_model), *argv]) == 2


def test_spinning_is_off_unless_asked_for_and_the_report_says_which(
    int8_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench_json(capsys, str(int8_model), "--batch-sizes", "4")["spinning"] is False
    assert bench_json(capsys, str(int8_model), "--batch-sizes", "4", "--spin")["spinning"] is True
    assert main(["bench", str(int8_model), "--batch-sizes", "4", "--no-spin", *FAST]) == 0
    assert "spinning off" in capsys.readouterr().out
