"""One logistic regression per label on one embedding matrix, each label's C chosen by cross-validation.

Every label's model is scikit-learn's binary `LogisticRegression` objective (L2 penalty ½‖w‖², the
intercept unpenalised, ``C`` times the sample-weighted log-loss), so a label's coefficients are what
`LogisticRegression(C=C_k, class_weight="balanced").fit(x, y[:, k])` finds (tests/train/test_multilabel_fit.py
checks it). Why not 28 such calls: each lbfgs iteration of one label is two matrix-vector products that
read the whole embedding matrix from memory, so 28 labels read it 56 times per iteration. Here the labels
are minimised side by side by `lbfgs.minimize_columns` (each with its own L-BFGS history, step and
stopping test, scikit-learn's tolerances) and one matrix-matrix product evaluates every label still in
progress (its docstring says why not one L-BFGS on the summed objective). That is what lets a per-label
C search cost about what the reference's single C does (`python -m benchmarks.multilabel_report`).

The search: k folds (shuffled; scikit-learn has no multi-label stratification, and rare labels still land
in every fold: GoEmotions' rarest, grief, has 77 rows) each walk the C grid from strong to weak
regularisation, every solve warm-started from the previous C's solution; the whole training set walks the
same path as one more task, so the model exported is read off that path at each label's chosen C with no
refit. The tasks run in parallel threads (the products release the GIL) with BLAS held to one thread
(`threadpoolctl`), as the single-label probe's search does (`probe_train.probe`). Each label's C is the
one with the best out-of-fold average precision (threshold-free: thresholds are chosen afterwards, on the
same out-of-fold probabilities, which `MultiLabelFit.held_out` keeps at each label's chosen C).

Class imbalance: ``class_weight="balanced"`` weighs each label's positives and negatives to equal total
weight (scikit-learn's definition, per label), so a label on 0.2 % of the texts is not fitted as "never".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import numpy as np
from joblib import Parallel, delayed
from scipy.special import expit, log_expit
from sklearn.metrics import average_precision_score
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from ..errors import DataError
from .lbfgs import Objective, minimize_columns

__all__ = ["ML_C_GRID", "MultiLabelFit", "fit_multilabel", "label_weights", "sigmoid"]

# Strong to weak regularisation; warm starts make each step cheap. Narrower than the single-label grid
# (1e-2..1e3): per-label balanced models on GoEmotions chose within it (benchmarks/results/multilabel.json).
ML_C_GRID = np.logspace(-2, 2, 9)
MAX_ITER = 3000
TOL = 1e-4  # scikit-learn LogisticRegression's default: the largest gradient component at convergence
ClassWeight = Literal["balanced"] | None


@dataclass(frozen=True)
class MultiLabelFit:
    """The fitted heads and how they were chosen.

    ``coef`` [labels, dim], ``intercept`` [labels]: label k's probability is sigmoid(x·coef[k] + intercept[k]).
    ``C`` [labels]: each label's chosen regularisation; ``cv_average_precision`` [labels] its out-of-fold score.
    ``held_out`` [texts, labels]: out-of-fold probabilities at each label's C (every text predicted by the
    fold model that did not see it): what thresholds are chosen on.
    """

    coef: np.ndarray
    intercept: np.ndarray
    C: np.ndarray
    cv_average_precision: np.ndarray
    held_out: np.ndarray
    folds: int
    class_weight: ClassWeight

    def logits(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) @ self.coef.T + self.intercept

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Every label's independent probability, [texts, labels]."""
        return sigmoid(self.logits(x))


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z), float64 (scipy's `expit`: no overflow for large |z|)."""
    return np.asarray(expit(np.asarray(z, dtype=np.float64)))


def label_weights(y: np.ndarray, class_weight: ClassWeight) -> np.ndarray:
    """Per text and label, the loss weight: 1, or (balanced) n / (2 * rows of that label's class)."""
    y = np.asarray(y, dtype=np.float64)
    if class_weight is None:
        return np.ones_like(y)
    if class_weight != "balanced":
        raise ValueError(f"class_weight must be 'balanced' or None, not {class_weight!r}")
    n, positives = len(y), y.sum(axis=0)
    return np.where(y > 0, n / (2 * positives), n / (2 * (n - positives)))


def _objective(x: np.ndarray, y: np.ndarray, w: np.ndarray, c: np.ndarray) -> Objective:
    """Label k's mean_i w_ik·logloss_ik + ‖coef_k‖² / (2·C_k·n) and gradient (scikit-learn's scaling), for
    the columns asked: theta [dim + 1, k] holds their coefficients, then intercepts. The two products run in
    ``x``'s dtype (float32: half the time of float64, gradients still far more precise than the tolerance);
    everything else in float64."""
    n, dim = x.shape

    def evaluate(theta: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        coef, yc, wc, inv_c = theta[:dim], y[:, cols], w[:, cols], 1.0 / c[cols]
        z = (x @ coef.astype(x.dtype)).astype(np.float64) + theta[dim]
        loss = (wc * (-log_expit(-z) - yc * z)).sum(axis=0) / n  # log(1 + e^z) - y·z, stable
        residual = wc * (expit(z) - yc) / n
        grad = np.empty_like(theta)
        grad[:dim] = (x.T @ residual.astype(x.dtype)).astype(np.float64) + coef * (inv_c / n)
        grad[dim] = residual.sum(axis=0)
        return loss + 0.5 * (coef * coef).sum(axis=0) * inv_c / n, grad

    return evaluate


def _path(
    x: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    grid: np.ndarray,
    class_weight: ClassWeight,
    tol: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Walk ``grid`` on the ``train`` rows, warm-started: the solutions [C, dim + 1, labels] and the
    probabilities of the ``test`` rows at every C, float32 [C, test rows, labels]."""
    x_train, y_train = x[train], y[train]
    w = label_weights(y_train, class_weight)
    theta = np.zeros((x.shape[1] + 1, y.shape[1]))
    solutions, proba = [], []
    for c in grid:
        theta = minimize_columns(
            _objective(x_train, y_train, w, np.full(y.shape[1], c)), theta, tol=tol, max_iter=MAX_ITER
        )[0]
        solutions.append(theta)
        if len(test):
            proba.append(sigmoid(x[test] @ theta[:-1] + theta[-1]).astype(np.float32))
    return np.stack(solutions), np.stack(proba) if proba else np.empty((len(grid), 0, y.shape[1]), np.float32)


def _jobs(n_jobs: int | None, tasks: int) -> int:
    """Threads: one per core this process may use, at most one per task."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(n_jobs if n_jobs is not None else cores, tasks))


def _check(x: np.ndarray, y: np.ndarray, folds: int) -> None:
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise ValueError(f"x [texts, dim] and y [texts, labels] must have as many rows, got {x.shape} and {y.shape}")
    support = y.sum(axis=0)
    if support.min() < folds or (len(y) - support).min() < folds:
        k = int(np.argmin(np.minimum(support, len(y) - support)))
        raise DataError(
            f"label {k} has only {int(min(support[k], len(y) - support[k]))} texts on one side (with or without it): "
            f"too few to choose its regularisation by {folds}-fold cross-validation; add texts"
        )


def fit_multilabel(
    x: np.ndarray,
    y: np.ndarray,
    *,
    seed: int = 0,
    folds: int = 5,
    grid: np.ndarray = ML_C_GRID,
    class_weight: ClassWeight = "balanced",
    n_jobs: int | None = None,
    tol: float = TOL,
    dtype: type[np.floating] = np.float32,
) -> MultiLabelFit:
    """Per-label logistic regressions on ``x`` [texts, dim] for the 0/1 targets ``y`` [texts, labels],
    each label's C the best out-of-fold average precision over ``grid`` (the smallest C on a tie).
    ``tol``: the solver stops when no gradient component is larger (scikit-learn's ``tol``); ``dtype``: of the
    matrix products (float64 to solve to a tolerance float32 cannot resolve, as the tests do)."""
    x, y = np.asarray(x, dtype=dtype), np.asarray(y, dtype=np.float64)
    _check(x, y, folds)
    splits = list(KFold(n_splits=folds, shuffle=True, random_state=seed).split(x))
    everything = (np.arange(len(x)), np.arange(0))
    tasks = [delayed(_path)(x, y, train, test, grid, class_weight, tol) for train, test in [everything, *splits]]
    with threadpool_limits(limits=1):
        results = Parallel(n_jobs=_jobs(n_jobs, len(tasks)), prefer="threads")(tasks)
    oof = np.empty((len(grid), len(x), y.shape[1]), dtype=np.float32)
    for (_, proba), (_, test) in zip(results[1:], splits):
        oof[:, test] = proba
    ap = np.array(
        [[average_precision_score(y[:, k], oof[i, :, k]) for k in range(y.shape[1])] for i in range(len(grid))]
    )
    best = np.argmax(ap, axis=0)  # the first (smallest C) of equal scores
    labels = np.arange(y.shape[1])
    theta = results[0][0][best, :, labels]  # [labels, dim + 1]: label k's column at its own C
    return MultiLabelFit(
        coef=theta[:, :-1].copy(),
        intercept=theta[:, -1].copy(),
        C=grid[best].astype(np.float64),
        cv_average_precision=ap[best, labels],
        held_out=oof[best, :, labels].T.astype(np.float64),
        folds=folds,
        class_weight=class_weight,
    )
