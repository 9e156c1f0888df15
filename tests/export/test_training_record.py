"""Every field training records reaches the artifact, the card and `info`: one typed record end to end.

The model directory's report.json and config.json's settings are read as typed records derived from the
artifact's `TrainingSummary`; export copies every summary field by name. These tests train both methods
with non-default settings (per-row weights, a seed, fine-tuning's optimiser), export, load the file, and
compare key by key with what the directory recorded: a field added to training that does not reach the
file fails here, unless it is declared below as one the directory alone keeps, with the reason.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest
from probe_export.cli import main
from probe_export.report import load_facts
from probe_runtime import Classifier
from probe_runtime.cli import main as runtime_main
from probe_runtime.records import TrainingSummary
from probe_train.model_dir import load_trained
from probe_train.records import RunSettings, TrainReport

from tests.conftest import synthetic_rows

SUMMARY = {f.name for f in fields(TrainingSummary)} - {"extra"}

# What the model directory records and the artifact does not carry as a training field, and why.
DIRECTORY_ONLY = {
    # report.json
    "labels": "the manifest's own `labels`",
    "calibration": "the manifest's `temperature`; the figures draw the card's reliability diagram from the directory",
    "roc_auc": "test-split curves for `probe report` on the directory; the file verifies its own decision figures",
    "pr_auc": "as roc_auc",
    "roc_curve": "as roc_auc",
    "pr_curve": "as roc_auc",
    "operating_point": "the manifest's `decision` and `verification.decision`",
    "reliability_diagram": "why the directory's diagram was not drawn",
    # config.json's settings
    "base_encoder": "the manifest's own `base_encoder`",
    "class_weight": "folded into the head's weights; a loss setting, not a property of the file",
    "n_validation": "fine-tuning's early-stopping split; `best_epoch`/`steps` summarise it",
    "history": "per-epoch losses: the directory's record of the run",
    "weight_decay": "fine-tuning's optimiser",
    "warmup_ratio": "fine-tuning's optimiser",
    "max_grad_norm": "fine-tuning's optimiser",
    "validation_size": "as n_validation",
    "patience": "as n_validation",
    "checkpoint_every": "where the run saved itself, not what it made",
    "operating_point_setting": "the manifest's `decision`",
    "min_score": "the manifest's `decision`",
    "calibrate": "the manifest's `temperature`",
    # multi-label probes' config.json settings
    "label_C": "each label's regularisation: how the heads were fitted, folded into their weights",
    "cv_average_precision": "the C search's per-label scores: the directory's record of the search",
    "cv_average_precision_raw": "the normalisation choice's scores; the artifact keeps `normalize`, the result",
    "cv_average_precision_l2": "as cv_average_precision_raw",
    "threshold_target": "the manifest's `thresholds.target`",
    "threshold_figures": "each threshold's out-of-fold figures; the manifest keeps the thresholds and the test figures",
}


def test_every_field_the_training_records_declare_reaches_the_artifact_or_is_declared_directory_only():
    declared = {f.name for kind in (TrainReport, RunSettings) for f in fields(kind)} - {"extra"}
    assert declared >= SUMMARY  # both derive from the artifact's record
    unaccounted = sorted(declared - SUMMARY - DIRECTORY_ONLY.keys() - {"operating_point"})
    assert not unaccounted, f"recorded but neither in the artifact's TrainingSummary nor declared above: {unaccounted}"


@pytest.fixture(scope="module")
def weighted_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import csv

    root = tmp_path_factory.mktemp("weighted")
    with open(root / "train.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", "weight"])
        writer.writerows([text, label, (1, 2, 0, 0.5)[i % 4]] for i, (text, label) in enumerate(synthetic_rows(80, 5)))
    with open(root / "test.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("text", "label"), *synthetic_rows(30, 6)])
    return root / "train.csv", root / "test.csv"


RUNS = {
    "probe": ["--seed", "3"],
    "finetune": [
        "--method",
        "finetune",
        "--seed",
        "4",
        "--epochs",
        "2",
        "--learning-rate",
        "1e-3",
        "--batch-size",
        "8",
        "--validation-size",
        "0.25",
        "--checkpoint-every",
        "0",
    ],
}


@pytest.fixture(scope="module", params=sorted(RUNS))
def exported(request, tiny_encoder: Path, weighted_data, tmp_path_factory) -> tuple[Path, Path]:
    """A model directory trained with weights and non-default settings, and its fp32 export."""
    train, test = weighted_data
    root = tmp_path_factory.mktemp(request.param)
    model, artifact = root / "model", root / "model.onnx"
    argv = ["train", str(train), "--test", str(test), "--out", str(model), "--model", str(tiny_encoder)]
    assert main([*argv, "--weight-column", "weight", *RUNS[request.param]]) == 0
    assert main(["export", str(model), "--out", str(artifact), "--quantize", "none"]) == 0
    return model, artifact


# The test figures only multi-label training sets (tests/export/test_multilabel_export.py follows them to the file).
MULTI_LABEL_ONLY = {"micro_f1", "weighted_f1", "subset_accuracy", "hamming_loss"}


def _recorded(model: Path) -> dict[str, object]:
    """What the directory holds, as written on disk: report.json and config.json's settings, merged."""
    report = json.loads((model / "report.json").read_text(encoding="utf-8"))
    settings = json.loads((model / "config.json").read_text(encoding="utf-8"))["settings"]
    assert not report.keys() & settings.keys() - {"operating_point"}
    return {**report, **{("operating_point_setting" if k == "operating_point" else k): v for k, v in settings.items()}}


def test_every_recorded_training_field_reaches_the_artifact_with_its_value(exported) -> None:
    model, artifact = exported
    training = Classifier.load(artifact).manifest.training.to_json_dict()
    recorded = _recorded(model)
    for key, value in recorded.items():
        if key in SUMMARY:
            assert training.get(key) == value, f"{key}: the directory has {value!r}, the artifact {training.get(key)!r}"
        else:
            assert key in DIRECTORY_ONLY, f"{key} is recorded by training but reaches no artifact"
    assert training.keys() <= recorded.keys()  # and nothing else
    weights = training["sample_weight"]  # fine-tuning weighs the rows it fits (its validation split is held out)
    assert weights["max"] == 2.0 and weights["rows"] == 80 - recorded.get("n_validation", 0)
    assert training["seed"] == (3 if "C" in training else 4)


def test_between_them_the_two_methods_set_every_field_of_the_artifacts_training_record(exported) -> None:
    # Per method: what it leaves unset is what the other method alone records.
    model, artifact = exported
    unset = SUMMARY - Classifier.load(artifact).manifest.training.to_json_dict().keys()
    assert unset >= MULTI_LABEL_ONLY  # single-label runs: multi-label training sets these (test_multilabel_export)
    unset -= MULTI_LABEL_ONLY
    method = load_trained(model).method
    if method == "probe":
        assert unset == {"epochs", "learning_rate", "batch_size", "best_epoch", "steps"}
    else:
        assert unset == {"C", "cv_accuracy", "cv_spread", "normalize_chosen_by", "cv_accuracy_raw", "cv_accuracy_l2"}


def test_info_shows_every_training_field_and_the_card_shows_the_same_record_from_either_source(
    exported, capsys
) -> None:
    model, artifact = exported
    facts_dir, _ = load_facts(model)
    facts_file, _ = load_facts(artifact)
    assert facts_dir.training == facts_file.training  # `probe report` on the directory or on the file: one record
    assert runtime_main(["info", str(artifact)]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    shown = {parts[0] for parts in lines if parts}
    assert set(facts_file.training.to_json_dict()) <= shown
    card = Classifier.load(artifact).manifest.card or ""
    w = facts_file.training.sample_weight or {}
    assert f"| training weights | {w['rows']} rows, {w['zero']} at 0, total {w['sum']:g} (max 2) |" in card


def test_a_model_directory_written_before_the_typed_records_still_exports_its_fields(tmp_path: Path) -> None:
    """tests/train/fixtures/model-dir-v1: `probe train` as it was before (key order, settings as written then)."""
    old = Path(__file__).parents[1] / "train" / "fixtures" / "model-dir-v1"
    trained = load_trained(old)
    recorded = _recorded(old)
    summary = trained.summary().to_json_dict()
    assert {k: v for k, v in recorded.items() if k in SUMMARY} == summary
    assert summary["sample_weight"] == {"rows": 30, "zero": 0, "sum": 35.0, "max": 2.0}
    assert trained.decision.rule == "fpr" and trained.provenance is not None
