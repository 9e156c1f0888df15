"""Per-label logistic regressions: scikit-learn's model per label, C by cross-validation, held-out probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from probe_train.errors import DataError
from probe_train.multilabel.fit import fit_multilabel, label_weights
from probe_train.multilabel.lbfgs import minimize_columns
from sklearn.linear_model import LogisticRegression


def problem(n=1200, dim=16, seed=0):
    """Three labels of falling frequency (about 40 %, 15 %, 3 %), each a noisy linear function of x."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    scores = x @ rng.normal(size=(dim, 3)) + rng.normal(size=(n, 3))
    return x, (scores > np.quantile(scores, [0.6, 0.85, 0.97], axis=0).diagonal()).astype(np.uint8)


def test_each_label_is_the_logistic_regression_scikit_learn_fits_at_its_chosen_c():
    x, y = problem()
    fit = fit_multilabel(x, y, folds=3, tol=1e-8, dtype=np.float64)  # both solved tightly: the same optimum
    for k in range(y.shape[1]):
        reference = LogisticRegression(C=fit.C[k], class_weight="balanced", max_iter=10_000, tol=1e-8)
        reference.fit(x, y[:, k])
        assert fit.predict_proba(x)[:, k] == pytest.approx(reference.predict_proba(x)[:, 1], abs=1e-5)


def test_float32_products_give_the_float64_model_to_within_the_tolerance():
    x, y = problem()
    fast, exact = fit_multilabel(x, y, folds=3), fit_multilabel(x, y, folds=3, dtype=np.float64)
    assert np.array_equal(fast.C, exact.C)
    assert fast.predict_proba(x) == pytest.approx(exact.predict_proba(x), abs=1e-3)


def test_held_out_probabilities_come_from_models_that_did_not_see_the_text():
    x, y = problem()
    fit = fit_multilabel(x, y, folds=3)
    assert fit.held_out.shape == y.shape and fit.folds == 3
    in_sample = fit.predict_proba(x)
    assert not np.allclose(fit.held_out, in_sample, atol=1e-3)  # a refit on all rows would equal in-sample
    # held-out predictions still rank the texts: each label's average precision is far above its frequency
    assert (fit.cv_average_precision > y.mean(axis=0) + 0.3).all()


def test_the_same_data_gives_the_same_model_alone_or_with_threads():
    x, y = problem(n=600)
    one, two = fit_multilabel(x, y, folds=3, n_jobs=1), fit_multilabel(x, y, folds=3, n_jobs=2)
    assert np.array_equal(one.C, two.C)
    assert np.array_equal(one.coef, two.coef) and np.array_equal(one.held_out, two.held_out)


def test_balanced_weights_give_each_labels_two_classes_equal_total_weight():
    y = np.array([[1, 0], [0, 0], [0, 1], [0, 1]])
    w = label_weights(y, "balanced")
    assert (w * y).sum(axis=0) == pytest.approx((w * (1 - y)).sum(axis=0))
    assert label_weights(y, None).tolist() == np.ones_like(y).tolist()


def test_a_rare_label_is_still_predicted_with_balanced_weights():
    x, y = problem()
    balanced, plain = fit_multilabel(x, y, folds=3), fit_multilabel(x, y, folds=3, class_weight=None)
    rare = 2
    assert (balanced.predict_proba(x)[:, rare] >= 0.5).sum() > (plain.predict_proba(x)[:, rare] >= 0.5).sum()


def test_a_label_with_fewer_texts_than_folds_is_refused_in_one_line():
    x, y = problem(n=200)
    y[:, 2] = 0
    y[:3, 2] = 1
    with pytest.raises(DataError, match=r"^label 2 has only 3 texts on one side[^\n]*add texts$"):
        fit_multilabel(x, y, folds=5)


def test_lockstep_lbfgs_minimises_each_column_alone_to_its_own_optimum():
    # column k: ½ Σ_j a_jk (θ_j - m_jk)², curvatures from 1 to 1e4: badly scaled, and differently per column
    rng = np.random.default_rng(1)
    a, m = 10 ** rng.uniform(0, 4, size=(20, 3)), rng.normal(size=(20, 3))

    def objective(theta, cols):
        diff = theta - m[:, cols]
        return 0.5 * (a[:, cols] * diff**2).sum(axis=0), a[:, cols] * diff

    theta, iterations = minimize_columns(objective, np.zeros((20, 3)), tol=1e-9)
    assert theta == pytest.approx(m, abs=1e-5)  # (it stops, like scipy, once the value no longer falls)
    assert (iterations > 1).all()
