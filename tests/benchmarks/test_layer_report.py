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


def _scored(layer: int, cv: float, pooling: str = "mean") -> dict[str, Any]:
    return {"layer": layer, "pooling": pooling, "normalize": False, "cv_accuracy": cv, "cv_spread": 0.01}


def test_the_next_choices_are_the_later_layers_within_the_tolerance_each_at_its_best_pooling():
    scores = [_scored(3, 0.8395), _scored(4, 0.8410, "cls"), _scored(4, 0.8422), _scored(5, 0.8430)]
    scores += [_scored(5, 0.8300, "max"), _scored(2, 0.8390), _scored(6, 0.8425)]
    sweep = {"best": _scored(5, 0.8430), "recommended": _scored(3, 0.8395), "tolerance": 0.5, "n_layers": 6}
    chosen = layer_report.later_candidates(sweep | {"scores": [*scores, _scored(4, 0.8370, "max")]})
    # after the recommended layer 3, before the last (6); layer 2 is earlier; 4 at its best pooling
    assert [(s["layer"], s["pooling"], s["cv_accuracy"]) for s in chosen] == [(4, "mean", 0.8422), (5, "mean", 0.8430)]


def test_when_the_recommended_file_is_not_faster_the_goal_line_reports_the_next_layer_within_tolerance():
    row = _row("sst2", 3, speedup=0.84)
    fallback = {"layer": 4, "quantization": "int8-per-token", "speedup": 1.45, "cv_accuracy": 0.8422}
    row["export"]["fallback"] = {**row["export"]["recommended"], **fallback, "timing_load": [0.3, 0.5]}
    line = _goal(row)
    assert "0.84x the full file's throughput" in line
    assert "layer 4, also within 0.5 points (CV 84.22), ships as int8-per-token: 1.45x" in line
    assert line.endswith(": met")
    table = _markdown("minilm", [row], "note")
    assert "| sst2 | next within tolerance, layer 4 (int8-per-token) |" in table and "| 1.45x | 0.30 -> 0.50 |" in table
