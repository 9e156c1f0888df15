"""The probe head and pooling: the pieces the exported graph must reproduce exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from probe_train.pooling import pool
from probe_train.probe import fit_probe, softmax_head
from sklearn.linear_model import LogisticRegression


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
