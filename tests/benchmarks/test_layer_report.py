"""The layer report's results: a run over some datasets keeps the others' rows, each row says what
measured it and under which load, and the goal line per dataset follows the figures."""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchmarks import layer_report
from benchmarks.layer_report import _earlier, _goal, _markdown, _merge


def _row(dataset: str, layer: int, n_layers: int = 6, speedup: float | None = None, **extra: Any) -> dict[str, Any]:
    score = {"layer": layer, "pooling": "mean", "normalize": False, "cv_accuracy": 0.9, "cv_spread": 0.01}
    last = {**score, "layer": n_layers, "accuracy": 0.8}
    sweep = {
        "n_layers": n_layers,
        "n_train": 100,
        "tolerance": 0.5,
        "recommended": {**score, "accuracy": 0.85},
        "best": score,
        "scores": [last],
    }
    row: dict[str, Any] = {"dataset": dataset, "n_train_full": 100, "sweep": sweep, **extra}
    if speedup is not None:
        files = {
            tag: {
                "layer": at,
                "encoder_layers": at,
                "quantization": "int8",
                "mb": 10.0,
                "accuracy": 0.8,
                "texts_per_second": 100.0 * (speedup if tag == "recommended" else 1.0),
            }
            for tag, at in (("recommended", layer), ("last", n_layers))
        }
        row["export"] = {**files, "speedup": speedup, "timing_load": [0.2, 0.4]}
    return row


def test_a_run_over_one_dataset_replaces_its_row_and_keeps_the_others_in_order():
    earlier = [_row("prompt_injections", 0), _row("sms_spam", 0), _row("tweeteval_offensive", 1)]
    merged = _merge(earlier, [_row("sst2", 2), _row("sms_spam", 3)])
    assert [r["dataset"] for r in merged] == ["prompt_injections", "sms_spam", "tweeteval_offensive", "sst2"]
    assert merged[1]["sweep"]["recommended"]["layer"] == 3


def test_rows_of_an_older_file_inherit_its_command(tmp_path):
    path = tmp_path / "layers_x.json"
    path.write_text(json.dumps({"model": "x", "rows": [_row("sms_spam", 0)], "note": "", "command": "old run"}))
    assert _earlier(path)[0]["command"] == "old run"
    assert _earlier(tmp_path / "missing.json") == []


@pytest.mark.parametrize(
    ("row", "says"),
    [
        (_row("a", 0, speedup=4.9), "4.90x the full file's throughput: met"),
        (_row("a", 5, speedup=1.1), "1.10x the full file's throughput: NOT met"),
        (_row("a", 6), "no earlier layer is within 0.5 points"),
        (_row("a", 2), "not exported in this run"),
    ],
)
def test_the_goal_line_follows_the_figures(row, says):
    assert says in _goal(row)


def test_the_table_shows_the_load_while_timed_or_that_it_was_not_recorded():
    old = _row("prompt_injections", 0, speedup=20.0)
    del old["export"]["timing_load"]
    text = _markdown("minilm", [old, _row("sms_spam", 0, speedup=3.0)], "note")
    assert "| 20.00x | not recorded |" in text and "| 3.00x | 0.20 -> 0.40 |" in text


def test_export_only_refuses_a_dataset_never_swept(tmp_path, monkeypatch):
    monkeypatch.setattr(layer_report, "RESULTS", tmp_path)
    with pytest.raises(SystemExit, match="no sweep of sst2"):
        layer_report.main(["--datasets", "sst2", "--export-only"])


def test_the_recorded_command_names_a_prepared_model_by_its_repository_path():
    assert (
        layer_report._relative("/work/main/benchmarks/.work/all-mpnet-base-v2") == "benchmarks/.work/all-mpnet-base-v2"
    )
    assert layer_report._relative("--max-train") == "--max-train"
