"""benchmarks/single_text.py runs end to end on a tiny model: each runtime's child process times the same texts,
which the parent reads (through the one data reader) and hands over in a file, so a child imports nothing of
this tree but the runtime it measures."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.common import paths
from benchmarks.single_text import main
from tests.conftest import synthetic_rows, write_csv

ROOT = Path(__file__).resolve().parents[2]


def test_single_text_times_both_runtimes_on_the_same_texts(fp32_model, tmp_path, monkeypatch):
    (tmp_path / "data" / "sst2").mkdir(parents=True)
    write_csv(tmp_path / "data" / "sst2" / "train.csv", synthetic_rows(30, seed=4))
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path / "data"))
    out = tmp_path / "single_text.json"
    argv = [str(fp32_model), "--before", str(ROOT / "runtime" / "src"), "--before-name", "same tree"]
    main([*argv, "--reps", "1", "--texts", "20", "--passes", "1", "--out", str(out)])
    record = json.loads(out.read_text())
    assert set(record["runs"]) == {"same tree", "after (this tree)"}
    for (run,) in record["runs"].values():
        assert run["predict_proba cpu_us"] > 0 and run["session.run cpu_us"] > 0 and run["predict_proba p50_ms"] > 0
    assert record["command"].startswith("python -m benchmarks.single_text ")
    assert "| same tree |" in out.with_suffix(".md").read_text()
