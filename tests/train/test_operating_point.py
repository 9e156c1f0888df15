"""The operating threshold is chosen on held-out scores for the target the user names, and class weights
and label names do what they say."""

from __future__ import annotations

import json

import numpy as np
import pytest
from probe_runtime.choices import DecisionRule
from probe_runtime.decision import Decider
from probe_runtime.errors import UsageError
from probe_train.label_names import class_weights, parse_mapping, resolve_label_names
from probe_train.operating_point import (
    OperatingPoint,
    choose_threshold,
    curves,
    operating_figures,
    parse_operating_point,
)
from probe_train.probe import fit_probe
from sklearn.metrics import roc_auc_score

# Ten negatives and ten positives with hand-checkable answers (the rule: positive when score >= t).
NEGATIVES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.95]
POSITIVES = [0.3, 0.6, 0.82, 0.9, 0.92, 0.97, 0.98, 0.99, 0.995, 0.999]
SCORES = np.array(NEGATIVES + POSITIVES)
TRUTH = np.array([False] * 10 + [True] * 10)


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        # At most one negative of ten at or above t: t must pass 0.85; the next score is 0.9 (recall 0.7).
        ("fpr=0.1", 0.9),
        # Nine positives of ten at or above t: the highest such t is 0.6.
        ("recall=0.9", 0.6),
        # Precision 8/10 first reached at 0.82 (0.8 gives 8/11); lower thresholds stay below.
        ("precision=0.8", 0.82),
        # F1: 0.8 at 0.82, beating 0.778 at 0.9 and 0.75 at 0.6.
        ("f1", 0.82),
    ],
)
def test_the_threshold_meets_the_target_on_scores_with_a_known_answer(point: str, expected: float) -> None:
    assert choose_threshold(SCORES, TRUTH, parse_operating_point(point)) == pytest.approx(expected)


def test_an_fpr_target_is_met_and_the_figures_are_the_runtime_rule() -> None:
    threshold = choose_threshold(SCORES, TRUTH, OperatingPoint(DecisionRule.FPR, 0.1))
    figures = operating_figures(SCORES, TRUTH, threshold)
    assert figures.fpr == pytest.approx(0.1) and figures.recall == pytest.approx(0.7)
    # The runtime's decider, fed two-label probabilities, calls exactly the same texts positive.
    decider = Decider(("neg", "pos"), threshold=threshold, positive=1)
    called = decider.indices(np.stack([1 - SCORES, SCORES], axis=1)) == 1
    assert called.sum() == round(figures.recall * 10 + figures.fpr * 10)


@pytest.mark.parametrize("point", ["fpr=0.1", "fpr=0.3", "precision=0.8"])
def test_on_perfectly_separated_scores_the_threshold_does_not_spend_the_false_positive_budget(point: str) -> None:
    # A fine-tuned model often separates its validation split: every threshold from just above the top
    # negative to the lowest positive gives full recall, and the one chosen must flag no negative.
    negatives = np.array([1e-30, 1e-20, 1e-18, 2e-18, 1e-9, 1e-6, 1e-4, 0.001, 0.01, 0.02])
    positives = np.array([0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999])
    scores, truth = np.concatenate([negatives, positives]), np.array([False] * 10 + [True] * 10)
    threshold = choose_threshold(scores, truth, parse_operating_point(point))
    assert threshold == pytest.approx(0.6)
    figures = operating_figures(scores, truth, threshold)
    assert figures.fpr == 0.0 and figures.recall == 1.0


def test_an_unreachable_fpr_gives_the_threshold_above_every_score() -> None:
    threshold = choose_threshold(SCORES, TRUTH, OperatingPoint(DecisionRule.FPR, 0.01))
    assert threshold > SCORES.max() - 0.05  # only scores above the top negative are called positive
    assert operating_figures(SCORES, TRUTH, threshold).fpr == 0.0


@pytest.mark.parametrize("text", ["fpr", "fpr=2", "recall=0", "precision=x", "auc=0.5", "f1=0.3"])
def test_a_bad_operating_point_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="operating_point must be"):
        parse_operating_point(text)


def test_curves_carry_both_aucs_and_at_most_200_points() -> None:
    rng = np.random.default_rng(0)
    truth = rng.random(5000) < 0.3
    scores = np.clip(rng.normal(0.35 + 0.3 * truth, 0.2), 0, 1)
    report = curves(scores, truth)
    assert report["roc_auc"] == pytest.approx(roc_auc_score(truth, scores))
    assert 0 < report["pr_auc"] <= 1
    assert 2 < len(report["roc_curve"]["fpr"]) <= 200 and len(report["pr_curve"]["recall"]) <= 200
    json.dumps(report)


def test_balanced_class_weights_raise_the_minority_recall_on_an_imbalanced_task() -> None:
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 1, (600, 4)), rng.normal(0.8, 1, (30, 4))])
    y = np.array([0] * 600 + [1] * 30)
    x_test = np.vstack([rng.normal(0, 1, (600, 4)), rng.normal(0.8, 1, (300, 4))])
    minority = slice(600, None)
    plain = fit_probe(x, y, seed=0).predict(x_test)[minority].mean()
    weights = class_weights("balanced", [0, 1], y)
    assert weights is not None and weights[1] > weights[0]
    balanced = fit_probe(x, y, seed=0, class_weight=dict(enumerate(weights))).predict(x_test)[minority].mean()
    assert plain < 0.2 and balanced > plain + 0.3


def test_a_class_weight_mapping_names_labels_as_the_data_spells_them() -> None:
    weights = class_weights(parse_mapping("neg=1,pos=4", "class_weight"), ["neg", "pos"], np.array([0, 1]))
    assert weights is not None and weights.tolist() == [1.0, 4.0]
    with pytest.raises(UsageError, match="positive numbers"):
        class_weights({"neg": "1", "pos": "-2"}, ["neg", "pos"], np.array([0, 1]))


def test_label_names_from_pairs_or_a_json_file(tmp_path) -> None:
    assert resolve_label_names(parse_mapping("0=benign, 1=injection", "label_names"), [0, 1]) == [
        "benign",
        "injection",
    ]
    path = tmp_path / "names.json"
    path.write_text(json.dumps({"0": "benign", "1": "injection"}))
    assert resolve_label_names(parse_mapping(str(path), "label_names"), [0, 1]) == ["benign", "injection"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0=benign", "label '1' has no value"),
        ("0=a,1=a", "the same name"),
        ("0=a,2=b", "'2' is not a label"),
        ("benign", "LABEL=VALUE pairs"),
    ],
)
def test_label_name_mistakes_are_one_line_naming_the_fix(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        resolve_label_names(parse_mapping(text, "label_names"), [0, 1])
