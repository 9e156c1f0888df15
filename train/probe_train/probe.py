"""The linear probe: scikit-learn logistic regression on frozen embeddings, C chosen by stratified CV.

Why the search is written out rather than a `GridSearchCV`: that ran its 55 fits (11 C values x 5
folds) one after another, each from scratch, while the BLAS library spread every tiny matrix-vector
product over all cores; on two cores that was 214 s for a 1,200-row task that takes seconds. Here
each fold walks the C grid from the strongest regularisation to the weakest, every fit starting from
the previous one's solution (`warm_start`: the optimum moves little between neighbouring C), the
folds run in parallel threads (lbfgs spends its time in NumPy/SciPy code that releases the GIL;
worker processes cost more to start than a whole search on a busy 2-core machine: 52 s against 3 s,
prompt-injection data), and BLAS is held to one thread (`threadpoolctl`), which is what small
logistic regressions want. The choice is the same rule as before: the C with the best mean fold
accuracy (the smallest on a tie), refitted from scratch on all the data.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from .errors import DataError

__all__ = [
    "C_GRID",
    "CVResult",
    "ClassWeight",
    "FoldProgress",
    "cv_search",
    "fit_probe",
    "fit_probe_cv",
    "softmax_head",
]

log = logging.getLogger(__name__)
C_GRID = np.logspace(-2, 3, 11)
MAX_ITER = 3000
FoldProgress = Callable[[int, int], None]  # (folds done, folds in all): how a caller shows progress


@dataclass(frozen=True)
class CVResult:
    """What the search measured: the chosen C, its mean fold accuracy and the folds' spread (std)."""

    C: float
    accuracy: float
    spread: float
    folds: int
    scores: np.ndarray  # [folds, len(C_GRID)] fold accuracies


def _folds(y: np.ndarray, folds: int) -> int:
    smallest = int(np.bincount(y).min())
    folds = min(folds, smallest)
    if folds < 2:
        raise DataError(
            "a class has only one training example, too few to choose the regularisation by "
            "cross-validation; add examples of every class"
        )
    return folds


ClassWeight = dict[int, float] | None  # the loss weight of each class index (None: all 1), `label_names.class_weights`


def _model(c: float, seed: int, warm: bool = False, class_weight: ClassWeight = None) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=MAX_ITER, random_state=seed, warm_start=warm, class_weight=class_weight)


def _fold_path(
    x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int, class_weight: ClassWeight = None
) -> np.ndarray:
    """One fold's accuracy at every C of the grid, each fit warm-started from the previous C's solution."""
    scores = np.empty(len(C_GRID))
    model = _model(float(C_GRID[0]), seed, warm=True, class_weight=class_weight)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for i, c in enumerate(C_GRID):
            model.set_params(C=float(c))
            model.fit(x[train], y[train])
            scores[i] = float((model.predict(x[test]) == y[test]).mean())
    return scores


def _jobs(n_jobs: int | None, folds: int) -> int:
    """Threads for the folds: one per core, at most one per fold."""
    if n_jobs is not None:
        return max(1, min(n_jobs, folds))
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, folds))


def cv_search(
    x: np.ndarray,
    y: np.ndarray,
    seed: int = 0,
    folds: int = 5,
    *,
    n_jobs: int | None = None,
    on_fold: FoldProgress | None = None,
    class_weight: ClassWeight = None,
) -> CVResult:
    """Stratified k-fold accuracy along the C grid; the best mean wins (the smallest C on a tie)."""
    y = np.asarray(y)
    folds = _folds(y, folds)
    splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(x, y))
    jobs = _jobs(n_jobs, folds)
    rows: list[np.ndarray] = []
    # BLAS limited here, once for the process (threadpoolctl's limits are global, not per thread).
    with threadpool_limits(limits=1):
        if jobs == 1:
            for train, test in splits:
                rows.append(_fold_path(x, y, train, test, seed, class_weight))
                if on_fold:
                    on_fold(len(rows), folds)
        else:
            parallel = Parallel(n_jobs=jobs, prefer="threads", return_as="generator_unordered")
            tasks = (delayed(_fold_path)(x, y, train, test, seed, class_weight) for train, test in splits)
            for row in parallel(tasks):
                rows.append(row)
                if on_fold:
                    on_fold(len(rows), folds)
    # Fold order does not matter: the choice reads the mean and spread over folds per C.
    scores = np.vstack(rows)
    mean = scores.mean(axis=0)
    best = int(np.argmax(mean))
    return CVResult(float(C_GRID[best]), float(mean[best]), float(scores[:, best].std()), folds, scores)


def fit_probe_cv(
    x: np.ndarray,
    y: np.ndarray,
    seed: int = 0,
    folds: int = 5,
    *,
    n_jobs: int | None = None,
    on_fold: FoldProgress | None = None,
    class_weight: ClassWeight = None,
) -> tuple[LogisticRegression, CVResult]:
    """`cv_search`, then the chosen C refitted from scratch on all the data (the model exported)."""
    result = cv_search(x, y, seed, folds, n_jobs=n_jobs, on_fold=on_fold, class_weight=class_weight)
    model = _model(result.C, seed, class_weight=class_weight)
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    log.info(
        "probe: C=%.4g chosen by %d-fold CV (accuracy %.4f ± %.4f)",
        result.C,
        result.folds,
        result.accuracy,
        result.spread,
    )
    return model, result


def fit_probe(
    x: np.ndarray, y: np.ndarray, seed: int = 0, folds: int = 5, class_weight: ClassWeight = None
) -> LogisticRegression:
    """Pick C by stratified k-fold accuracy on the training data, then refit on all of it."""
    return fit_probe_cv(x, y, seed, folds, class_weight=class_weight)[0]


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
