"""The linear probe: scikit-learn logistic regression on frozen embeddings, C chosen by stratified CV."""

from __future__ import annotations

import logging
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from .errors import DataError

__all__ = ["C_GRID", "fit_probe", "softmax_head"]

log = logging.getLogger(__name__)
C_GRID = np.logspace(-2, 3, 11)


def fit_probe(
    x: np.ndarray, y: np.ndarray, seed: int = 0, folds: int = 5, class_weight: dict[int, float] | None = None
) -> LogisticRegression:
    """Pick C by stratified k-fold accuracy on the training data, then refit on all of it.

    ``class_weight``: the loss weight of each class index (None: all 1), e.g. `label_names.class_weights`."""
    smallest = int(np.bincount(y).min())
    folds = min(folds, smallest)
    if folds < 2:
        raise DataError(
            "a class has only one training example, too few to choose the regularisation by "
            "cross-validation; add examples of every class"
        )
    search = GridSearchCV(
        LogisticRegression(max_iter=3000, random_state=seed, class_weight=class_weight),
        {"C": C_GRID},
        cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed),
        scoring="accuracy",
        refit=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(x, y)
    log.info("probe: C=%.4g chosen by %d-fold CV (accuracy %.4f)", search.best_params_["C"], folds, search.best_score_)
    return search.best_estimator_


def softmax_head(model: LogisticRegression) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``[n_labels, dim]`` and bias ``[n_labels]`` whose softmax equals ``predict_proba``.

    Binary logistic regression is sigmoid(w·x + b) = softmax([0, w·x + b])[1], so the binary case
    becomes a two-row linear layer with a zero row; multinomial models are softmax already.
    """
    coef = np.asarray(model.coef_, dtype=np.float32)
    bias = np.asarray(model.intercept_, dtype=np.float32)
    if coef.shape[0] == 1:
        coef = np.vstack([np.zeros_like(coef), coef])
        bias = np.concatenate([np.zeros_like(bias), bias])
    return coef, bias
