"""Per-label thresholds: chosen on held-out probabilities for the target a user names, applied as proba >= t."""

from __future__ import annotations

import numpy as np
import pytest
from probe_runtime.errors import UsageError
from probe_train.multilabel.thresholds import Goal, ThresholdTarget, choose_thresholds

# One label, ten texts, probabilities rising with the index; the positives are texts 5, 7, 8 and 9.
PROBA = np.linspace(0.05, 0.95, 10)[:, None]
TRUTH = np.isin(np.arange(10), [5, 7, 8, 9]).astype(np.uint8)[:, None]


def test_the_default_target_is_each_labels_best_f1():
    chosen = choose_thresholds(TRUTH, PROBA, ["joy"])
    only = chosen.labels[0]
    assert str(chosen.target) == "f1"
    assert only.threshold == pytest.approx(PROBA[5, 0])  # all four positives, one false alarm: F1 8/9
    assert (only.precision, only.recall, only.support) == (pytest.approx(0.8), 1.0, 4)
    assert only.f1 == pytest.approx(8 / 9)


def test_precision_target_takes_the_lowest_threshold_that_reaches_it():
    only = choose_thresholds(TRUTH, PROBA, ["joy"], ThresholdTarget.parse("precision=1")).labels[0]
    assert only.threshold == pytest.approx(PROBA[7, 0]) and only.precision == 1.0 and only.recall == 0.75
    assert only.reached


def test_recall_target_takes_the_highest_threshold_that_reaches_it():
    only = choose_thresholds(TRUTH, PROBA, ["joy"], ThresholdTarget.parse("recall=0.5")).labels[0]
    assert only.threshold == pytest.approx(PROBA[8, 0]) and only.recall == 0.5


def test_a_precision_no_threshold_reaches_keeps_the_most_precise_and_says_so():
    truth = np.array([[1], [0], [1], [0]], dtype=np.uint8)
    proba = np.array([[0.1], [0.9], [0.5], [0.6]])
    only = choose_thresholds(truth, proba, ["x"], ThresholdTarget(Goal.PRECISION, 0.9)).labels[0]
    assert not only.reached and only.precision == pytest.approx(0.5)


def test_each_label_gets_its_own_threshold_and_apply_uses_greater_or_equal():
    proba = np.hstack([PROBA, 1 - PROBA])
    truth = np.hstack([TRUTH, 1 - TRUTH])
    chosen = choose_thresholds(truth, proba, ["joy", "not joy"])
    assert chosen.values()[0] != chosen.values()[1]
    decided = chosen.apply(proba)
    assert decided[:, 0].tolist() == (PROBA[:, 0] >= chosen.values()[0]).astype(int).tolist()
    assert chosen.apply(np.array([[chosen.values()[0], 0.0]]))[0, 0] == 1


def test_targets_parse_and_print_and_bad_ones_are_one_line():
    assert ThresholdTarget.parse(" Precision = 0.9 ") == ThresholdTarget(Goal.PRECISION, 0.9)
    assert str(ThresholdTarget.parse("recall=0.8")) == "recall=0.8"
    for bad, says in [
        ("accuracy", "write f1, precision=0.9 or recall=0.8"),
        ("precision", "needs a level in (0, 1]"),
        ("recall=1.5", "needs a level in (0, 1]"),
        ("f1=0.3", "takes no level"),
        ("precision=0.9.1", "is not a number"),
    ]:
        with pytest.raises(UsageError, match=r"^[^\n]*$") as caught:
            ThresholdTarget.parse(bad)
        assert says in str(caught.value)
