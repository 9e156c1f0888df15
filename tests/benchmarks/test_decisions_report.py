"""The decisions report's document: counts behind every rate, and the notes it must not leave out."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from benchmarks.decisions_report import _jobs, markdown

HOST = {"cpu": "AMD EPYC (AVX-512 VNNI)", "logical_cpus": 2, "amx_int8": False, "onnxruntime": "1.x"}


def _figures(texts: int, positives: int, fp: int, tp: int, threshold: float | None) -> dict[str, Any]:
    negatives = texts - positives
    return {
        "texts": texts,
        "positives": positives,
        "fpr": fp / negatives,
        "recall": tp / positives,
        "precision": tp / max(tp + fp, 1),
        "f1": 0.0,
        "threshold": threshold,
    }


def _model(threshold: float, target: float, val: dict[str, Any], at: dict[str, Any], argmax: dict[str, Any]):
    return {
        "accuracy": 0.9,
        "n": at["texts"],
        "n_train": 436,
        "roc_auc": 0.99,
        "calibration": {
            "temperature": 1.5,
            "fitted_on": "the validation split",
            "ece_before": 0.03,
            "ece_after": 0.05,  # rose: the document must say so
            "brier_before": 0.06,
            "brier_after": 0.05,
        },
        "operating_point": {
            "decision": {"rule": "fpr", "target": target, "threshold": threshold, "validation": val},
            "test": {"threshold": at, "argmax": argmax},
        },
        "finetune": {"n_validation": 110, "epochs_run": 7, "best_epoch": 4, "steps": 196},
        "scale": {"epochs": 10, "why": "whole, ≤ 10 epochs"},
    }


def test_counts_and_notes():
    finetune = _model(
        0.9,
        0.01,
        val=_figures(110, 41, fp=0, tp=35, threshold=0.9),
        at=_figures(116, 60, fp=0, tp=53, threshold=0.9),
        argmax=_figures(116, 60, fp=0, tp=56, threshold=None),
    )
    results = {
        "generated": "now",
        "command": "python -m benchmarks.decisions_report",
        "host": HOST,
        "load_average": [3.0, 2.0, 1.0],
        "datasets": {"prompt_injections": {"finetune": finetune}},
    }
    text = markdown(results)
    assert "0.0 % (0/69) / 85.4 % (35/41)" in text  # validation negatives = texts - positives
    assert "**0.0 % (0/56)** / **88.3 % (53/60)**" in text
    assert "fpr ≤ 0.01 allows 0 false positives" in text  # a coarse target is said to be coarse
    assert "could only cost recall: 3 injections" in text
    assert "ECE rose after scaling for prompt_injections finetune" in text
    assert "436 + 110 val / 116" in text
    assert "stopped after 7, best 4" in text
    assert "no AMX" in text and "load average 3/2/1" in text


def test_same_false_positives_at_threshold_are_explained():
    probe = _model(
        0.695,
        0.05,
        val=_figures(546, 203, fp=17, tp=165, threshold=0.695),
        at=_figures(116, 60, fp=5, tp=43, threshold=0.695),
        argmax=_figures(116, 60, fp=5, tp=50, threshold=None),
    )
    probe["calibration"]["ece_after"] = 0.01  # fell: no note
    del probe["finetune"]
    results = {"generated": "now", "command": "x", "host": HOST, "datasets": {"prompt_injections": {"probe": probe}}}
    text = markdown(results)
    assert "allows 17 false positives" in text
    assert "removed none of argmax's 5 test false positives" in text and "cost 7 injections" in text
    assert "ECE rose" not in text


def test_only_names_dataset_and_method():
    args = argparse.Namespace(only=["sst2:finetune", "sms_spam:probe"], datasets=[], methods=[])
    assert _jobs(args) == [("sst2", "finetune"), ("sms_spam", "probe")]
    with pytest.raises(SystemExit, match="DATASET:probe or DATASET:finetune"):
        _jobs(argparse.Namespace(only=["sst2"], datasets=[], methods=[]))
