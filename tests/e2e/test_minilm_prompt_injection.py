"""The real thing: MiniLM (shipped in a pip package) on the shipped prompt-injection data.

train → export int8 → classify with the `probe-runtime` command in a subprocess.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from probe_export.cli import main

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "prompt_injections"
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e") / "pi"
    assert main(["train", str(DATA / "train.csv"), "--test", str(DATA / "test.csv"), "--out", str(out)]) == 0
    return out


def test_minilm_probe_trains_exports_and_classifies(model_dir, tmp_path, capsys):
    artifact, preds = tmp_path / "pi.onnx", tmp_path / "preds.jsonl"
    report = json.loads((model_dir / "report.json").read_text())
    assert report["accuracy"] > 0.80  # majority class is 0.52; a MiniLM mean-pooling probe scores ~0.87

    # The shipped demo data exports with no flags at all: `auto` measures per-token int8 against fp32 on
    # the 546 training texts plus the 116 test texts, and ships it.
    assert main(["export", str(model_dir), "--out", str(artifact)]) == 0
    assert artifact.stat().st_size < 30e6  # int8: ~23 MB instead of ~90 MB

    runtime = Path(sys.executable).with_name("probe-runtime")
    result = subprocess.run(
        [str(runtime), "classify", str(artifact), str(DATA / "test.csv"), "--text-column", "text", "--out", str(preds)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    assert len(rows) == 116
    assert all({"label", "score"} <= row.keys() and row["label"] in (0, 1) for row in rows)

    info = json.loads(
        subprocess.run(
            [str(runtime), "info", str(artifact), "--json"], capture_output=True, text=True, check=True
        ).stdout
    )
    v = info["verification"]
    assert v["fp32"]["max_abs_diff"] < 1e-4 and v["fp32"]["agreement"] == 1.0
    with open(DATA / "test.csv", newline="", encoding="utf-8") as f:
        truth = [int(row["label"]) for row in csv.DictReader(f)]
    accuracy = sum(row["label"] == y for row, y in zip(rows, truth)) / len(rows)
    assert accuracy == pytest.approx(v["int8"]["accuracy"], abs=1e-9)  # batch-independent: classify agrees exactly
    assert v["precision"]["chosen"] == info["quantization"] == "int8-per-token"


def test_minilm_per_token_int8_answers_the_same_whether_a_text_is_batched_or_alone(model_dir, tmp_path):
    from probe_runtime import Classifier

    artifact = tmp_path / "pi-per-token.onnx"
    assert main(["export", str(model_dir), "--out", str(artifact), "--quantize", "int8-per-token"]) == 0
    clf = Classifier.load(artifact)
    with open(DATA / "test.csv", newline="", encoding="utf-8") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    alone = [clf.predict_proba(text) for text in texts]
    assert max(abs(a - b).max() for a, b in zip(alone, clf.predict_proba(texts))) < 1e-4
    (candidate,) = clf.manifest.verification.precision.candidates
    assert candidate.batch_independent and candidate.alone_vs_batched_texts == 116
    assert candidate.paired.accuracy > 0.80


def test_the_demo_artifact_names_its_labels_and_the_report_scores_it_against_the_data_labels(tmp_path):
    """`make demo` trains with --label-names 0=benign,1=injection: classify prints the names, the report still
    compares its answers with the data's 0/1 labels (and the window policy decides long texts)."""
    from benchmarks.prompt_injection_report import evaluate

    out, artifact = tmp_path / "named", tmp_path / "named.onnx"
    train = ["train", str(DATA / "test.csv"), "--out", str(out), "--label-names", "0=benign,1=injection"]
    assert main([*train, "--operating-point", "fpr=0.1"]) == 0
    assert main(["export", str(out), "--long-text", "window", "--out", str(artifact)]) == 0
    runtime = Path(sys.executable).with_name("probe-runtime")
    result = subprocess.run(
        [str(runtime), "classify", str(artifact), str(ROOT / "data" / "examples.txt")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert rows and all(row["label"] in ("benign", "injection") and row["label_id"] in (0, 1) for row in rows)
    figures = evaluate(artifact, operating_point=True)
    deepset = figures["deepset test"]
    assert deepset["operating_point"]["accuracy"] > 0.6 and deepset["argmax"]["accuracy"] > 0.6
    assert set(figures["generalisation"]["families"]) >= {"indirect", "smuggling"}
