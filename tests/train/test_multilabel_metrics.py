"""Multi-label figures: the averages and per-label counts a user compares classifiers by."""

from __future__ import annotations

import numpy as np
import pytest
from probe_train.multilabel.metrics import evaluate_multilabel, format_multilabel_report

TRUTH = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
GUESS = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]])


def test_averages_subset_accuracy_and_hamming_loss():
    report = evaluate_multilabel(TRUTH, GUESS, ["a", "b", "c"])
    assert report.n == 4
    # label a: 2/2 right; b: 1 of 2 found, no false alarm; c: 0 of 1 found, 1 false alarm
    assert [s.f1 for s in report.per_label] == pytest.approx([1.0, 2 / 3, 0.0])
    assert report.macro_f1 == pytest.approx((1 + 2 / 3) / 3)
    assert report.micro_f1 == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))  # tp 3, fn 2, fp 1
    assert report.weighted_f1 == pytest.approx((2 * 1 + 2 * 2 / 3 + 0) / 5)
    assert report.subset_accuracy == pytest.approx(1 / 4)  # only the second text has every label right
    assert report.hamming_loss == pytest.approx(3 / 12)
    assert [s.support for s in report.per_label] == [2, 2, 1]


def test_the_report_is_a_plain_record_and_renders_one_line_per_label():
    report = evaluate_multilabel(TRUTH, GUESS, ["a", "b", "c"])
    assert report.to_dict()["per_label"][1] == {
        "label": "b",
        "precision": 1.0,
        "recall": 0.5,
        "f1": 2 / 3,
        "support": 2,
    }
    text = format_multilabel_report(report)
    assert "macro-F1 0.5556" in text and "Hamming loss 0.2500" in text
    assert len(text.splitlines()) == 5 + 3


def test_shapes_that_do_not_match_the_labels_are_refused():
    with pytest.raises(ValueError, match="do not match"):
        evaluate_multilabel(TRUTH, GUESS, ["a", "b"])
