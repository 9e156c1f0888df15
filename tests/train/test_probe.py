"""The probe head and pooling: the pieces the exported graph must reproduce exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from probe_train.pooling import l2_normalize, pool
from probe_train.probe import C_GRID, L2Choice, Search, cv_search, fit_probe, fit_probe_choose_l2, softmax_head
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_softmax_head_reproduces_predict_proba(n_classes):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8))
    y = rng.integers(0, n_classes, size=200)
    model = LogisticRegression(max_iter=1000).fit(x, y)
    weight, bias = softmax_head(model)
    assert weight.shape == (n_classes, 8)
    np.testing.assert_allclose(_softmax(x @ weight.T + bias), model.predict_proba(x), atol=1e-5)


def test_fit_probe_chooses_c_by_cross_validation_and_learns_a_separable_task():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 5))
    y = (x[:, 0] > 0).astype(int)
    model = fit_probe(x, y, seed=0)
    assert model.C in np.logspace(-2, 3, 11)
    assert (model.predict(x) == y).mean() > 0.95


def test_mean_pooling_ignores_padding():
    hidden = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert pool(hidden, mask, "mean").tolist() == [[2.0, 2.0]]


def test_cls_pooling_takes_the_first_token():
    hidden = torch.tensor([[[5.0, 6.0], [1.0, 1.0]]])
    assert pool(hidden, torch.tensor([[1, 1]]), "cls").tolist() == [[5.0, 6.0]]


def test_max_pooling_ignores_padding():
    hidden = torch.tensor([[[1.0, -2.0], [0.0, -1.0], [9.0, 9.0]]])
    assert pool(hidden, torch.tensor([[1, 1, 0]]), "max").tolist() == [[1.0, -1.0]]


def _direction_task(n=400, seed=0):
    """The label is a direction (a cone around the first axis), the length is noise over three orders of
    magnitude: linear on unit vectors, not on the raw ones. L2 normalisation should win."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n, 5))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    y = (u[:, 0] > 0.3).astype(int)
    return u * np.exp(rng.uniform(-3.5, 3.5, size=(n, 1))), y


def _length_task(n=400, seed=0):
    """The label is a threshold on the first feature away from the origin, the other features wide noise:
    linear on the raw vectors, not once their lengths are divided out. Raw should win."""
    rng = np.random.default_rng(seed)
    x = np.hstack([rng.normal(1.0, 1.0, size=(n, 1)), rng.normal(0.0, 3.0, size=(n, 4))])
    return x, (x[:, 0] > 1.0).astype(int)


def test_l2_is_chosen_where_it_clearly_helps():
    x, y = _direction_task()
    model, cv, choice = fit_probe_choose_l2(x, y)
    assert choice.chosen_by == "cross-validation" and choice.normalize is True
    assert choice.l2.accuracy > choice.raw.accuracy + 0.05, (choice.l2.accuracy, choice.raw.accuracy)
    assert cv is choice.l2
    # The head was refitted on the normalised vectors: it separates them, not the raw ones.
    assert (model.predict(l2_normalize(x)) == y).mean() > 0.9


def test_raw_is_kept_where_l2_clearly_hurts():
    x, y = _length_task()
    model, cv, choice = fit_probe_choose_l2(x, y)
    assert choice.chosen_by == "cross-validation" and choice.normalize is False
    assert choice.raw.accuracy > choice.l2.accuracy + 0.05, (choice.raw.accuracy, choice.l2.accuracy)
    assert cv is choice.raw and (model.predict(x) == y).mean() > 0.95


@pytest.mark.parametrize("normalize", [False, True])
def test_an_explicit_normalisation_wins_over_the_cross_validation(normalize):
    x, y = _direction_task() if not normalize else _length_task()  # each against what CV would choose
    _, cv, choice = fit_probe_choose_l2(x, y, normalize)
    assert choice == L2Choice(normalize, "setting")
    expected = cv_search(l2_normalize(x) if normalize else x, y)
    assert cv.C == expected.C and cv.accuracy == expected.accuracy


def test_a_tie_keeps_the_raw_vectors():
    rng = np.random.default_rng(3)
    u = rng.normal(size=(100, 4))
    x = u / np.linalg.norm(u, axis=1, keepdims=True)  # already unit length: both searches see the same data
    y = (x[:, 0] > 0).astype(int)
    _, _, choice = fit_probe_choose_l2(x, y)
    assert choice.raw.accuracy == choice.l2.accuracy and choice.normalize is False


@pytest.mark.parametrize("n_classes", [2, 3])
def test_the_searchs_held_out_logits_equal_a_direct_refit_of_the_folds(n_classes):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 6))
    cuts = np.quantile(x[:, 0], np.linspace(0, 1, n_classes + 1)[1:-1])
    y = np.digitize(x[:, 0] + 0.3 * rng.normal(size=300), cuts)
    cv = cv_search(x, y, Search(seed=7, held_out=True))
    assert float(C_GRID[0]) < cv.C  # a C reached by warm starts along the grid, not the first fit
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=7)
    direct = cross_val_predict(
        LogisticRegression(C=cv.C, max_iter=3000, random_state=7), x, y, cv=folds, method="predict_proba"
    )
    assert cv.held_out.shape == (300, n_classes)
    # Warm-started along the grid against fitted from scratch: the same optimum, to the solver's tolerance.
    np.testing.assert_allclose(np.exp(cv.held_out), direct, atol=5e-3)  # measured: at most 3e-3
    assert (cv.held_out.argmax(1) == direct.argmax(1)).mean() > 0.99
    assert cv_search(x, y, Search(seed=7)).held_out is None
