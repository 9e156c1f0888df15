"""benchmarks/serve_load.py runs end to end on a tiny model: both servers answer every request, and the record
holds what docs/benchmarks.md reads (texts/s, latencies, CPU per text, memory, the goals)."""

from __future__ import annotations

import json

from benchmarks.serve_load import main


def test_serve_load_measures_both_servers_and_the_library(fp32_model, tmp_path):
    out = tmp_path / "serve_load.json"
    main(
        [
            str(fp32_model),
            "--sets",
            "prompt_injections",
            "--texts",
            "60",
            "--clients",
            "1,4",
            "--seconds",
            "1",
            "--out",
            str(out),
        ]
    )
    record = json.loads(out.read_text())
    result = record["sets"]["prompt_injections"]
    assert result["offline"]["texts_per_s"] > 0 and result["offline"]["cpu_ms_per_text"] > 0
    for kind in ("probe", "naive"):
        assert [run["clients"] for run in result[kind]] == [1, 4]
        for run in result[kind]:
            assert run["requests"] > 0 and run["failed"] == 0
            assert run["p50_ms"] <= run["p99_ms"] and run["rss_mb_max"] > 0 and run["server_cpu_ms_per_text"] > 0
    assert record["host"]["cpu"] and len(record["load_average_start"]) == 3
    assert {goal for goal, _, _ in record["goals"]} >= {"prompt_injections: 4 clients >= 3x naive"}
    assert "| prompt_injections | 4 |" in out.with_suffix(".md").read_text()
