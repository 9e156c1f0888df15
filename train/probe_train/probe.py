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

Asked for (``held_out=True``), the search also keeps each fold's predicted probabilities along the
grid and returns the out-of-fold ones at the chosen C: the held-out predictions calibration and the
operating point need, without fitting the folds a second time.

`fit_probe_choose_l2` searches the raw and the L2-normalised vectors (one embedding pass, two searches)
and keeps the one with the better CV accuracy: which wins depends on the data (prompt injections
87.07 % raw against 84.48 % normalised on the test split, SMS spam 98.30 % against 98.75 %;
`python -m benchmarks.probe_fit_speed`).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from .errors import DataError
from .pooling import l2_normalize

__all__ = [
    "C_GRID",
    "CVResult",
    "ClassWeight",
    "FoldProgress",
    "L2Choice",
    "Search",
    "cv_search",
    "fit_probe",
    "fit_probe_choose_l2",
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
    # With held_out=True: out-of-fold log-probabilities at C, [n, classes], rows in input order
    held_out: np.ndarray | None = None


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


@dataclass(frozen=True)
class Search:
    """How the C search runs, for `cv_search`, `fit_probe_cv` and `fit_probe_choose_l2` alike: the seed of its
    folds and fits, how many folds, threads for them (None: one per core), ``on_fold`` progress, per-class and
    per-row loss weights (``sample_weight`` weighs the fits, never a fold's accuracy), and whether to keep the
    out-of-fold predictions at the chosen C (``held_out``)."""

    seed: int = 0
    folds: int = 5
    n_jobs: int | None = None
    on_fold: FoldProgress | None = None
    class_weight: ClassWeight = None
    held_out: bool = False
    sample_weight: np.ndarray | None = None


def _model(c: float, seed: int, warm: bool = False, class_weight: ClassWeight = None) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=MAX_ITER, random_state=seed, warm_start=warm, class_weight=class_weight)


@dataclass(frozen=True)
class _Fold:
    index: int
    scores: np.ndarray  # [len(C_GRID)] accuracy on the fold's test rows
    proba: np.ndarray | None  # [len(C_GRID), test rows, classes] when asked for


def _fold_path(
    x: np.ndarray,
    y: np.ndarray,
    index: int,
    train: np.ndarray,
    test: np.ndarray,
    seed: int,
    class_weight: ClassWeight = None,
    keep_proba: bool = False,
    sample_weight: np.ndarray | None = None,
) -> _Fold:
    """One fold's accuracy at every C of the grid, each fit warm-started from the previous C's solution.

    ``sample_weight`` weighs the fit only: a fold's accuracy counts each of its held-out rows once."""
    scores = np.empty(len(C_GRID))
    probas = []
    model = _model(float(C_GRID[0]), seed, warm=True, class_weight=class_weight)
    x_train, y_train, x_test = x[train], y[train], x[test]
    w_train = None if sample_weight is None else sample_weight[train]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for i, c in enumerate(C_GRID):
            model.set_params(C=float(c))
            model.fit(x_train, y_train, sample_weight=w_train)
            scores[i] = float((model.predict(x_test) == y[test]).mean())
            if keep_proba:
                probas.append(model.predict_proba(x_test))
    return _Fold(index, scores, np.stack(probas) if keep_proba else None)


def _jobs(n_jobs: int | None, folds: int) -> int:
    """Threads for the folds: one per core, at most one per fold."""
    if n_jobs is not None:
        return max(1, min(n_jobs, folds))
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, folds))


def cv_search(x: np.ndarray, y: np.ndarray, search: Search = Search()) -> CVResult:
    """Stratified k-fold accuracy along the C grid; the best mean wins (the smallest C on a tie).

    ``held_out``: also return the out-of-fold log-probabilities at the chosen C (``CVResult.held_out``;
    log-probabilities serve as logits: softmax ignores a shift), every row predicted by the fold model
    that did not see it.
    """
    y = np.asarray(y)
    folds = _folds(y, search.folds)
    splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=search.seed).split(x, y))
    jobs = _jobs(search.n_jobs, folds)
    done: list[_Fold] = []
    s = search
    tasks = (
        delayed(_fold_path)(x, y, i, train, test, s.seed, s.class_weight, s.held_out, s.sample_weight)
        for i, (train, test) in enumerate(splits)
    )
    # BLAS limited here, once for the process (threadpoolctl's limits are global, not per thread).
    with threadpool_limits(limits=1):
        results = (
            (f(*a, **k) for f, a, k in tasks)
            if jobs == 1
            else Parallel(n_jobs=jobs, prefer="threads", return_as="generator_unordered")(tasks)
        )
        for fold in results:
            done.append(fold)
            if search.on_fold:
                search.on_fold(len(done), folds)
    done.sort(key=lambda f: f.index)
    scores = np.vstack([f.scores for f in done])
    mean = scores.mean(axis=0)
    best = int(np.argmax(mean))
    logits = None
    if search.held_out:
        proba = np.empty((len(y), done[0].proba.shape[2]))  # type: ignore[union-attr]
        for fold, (_, test) in zip(done, splits):
            proba[test] = fold.proba[best]  # type: ignore[index]
        logits = np.log(np.clip(proba, 1e-12, 1.0))
    return CVResult(float(C_GRID[best]), float(mean[best]), float(scores[:, best].std()), folds, scores, logits)


def fit_probe_cv(x: np.ndarray, y: np.ndarray, search: Search = Search()) -> tuple[LogisticRegression, CVResult]:
    """`cv_search`, then the chosen C refitted from scratch on all the data (the model exported)."""
    result = cv_search(x, y, search)
    return _refit(x, y, result, search), result


def _refit(x: np.ndarray, y: np.ndarray, result: CVResult, search: Search) -> LogisticRegression:
    model = _model(result.C, search.seed, class_weight=search.class_weight)
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y, sample_weight=search.sample_weight)
    log.info(
        "probe: C=%.4g chosen by %d-fold CV (accuracy %.4f ± %.4f)",
        result.C,
        result.folds,
        result.accuracy,
        result.spread,
    )
    return model


@dataclass(frozen=True)
class L2Choice:
    """Whether the pooled vectors are L2-normalised, and how that was decided.

    ``chosen_by``: ``"cross-validation"`` (both searched, ``raw`` and ``l2`` are their results; the better
    CV accuracy won, raw on a tie) or ``"setting"`` (the caller said; only the chosen one was searched).
    """

    normalize: bool
    chosen_by: str
    raw: CVResult | None = None
    l2: CVResult | None = None


def fit_probe_choose_l2(
    x: np.ndarray, y: np.ndarray, normalize: bool | None = None, search: Search = Search()
) -> tuple[LogisticRegression, CVResult, L2Choice]:
    """`fit_probe_cv` on the raw pooled vectors ``x``, or on them L2-normalised (``normalize=True``), or
    (``None``) the search on both and the refit of the one with the better CV accuracy (raw on a tie:
    the simpler probe). ``search.on_fold`` counts the folds of both searches."""
    if normalize is not None:
        model, result = fit_probe_cv(l2_normalize(x) if normalize else x, y, search)
        return model, result, L2Choice(normalize, "setting")

    def counted(offset: int) -> FoldProgress:
        def on_fold(done: int, total: int) -> None:
            if search.on_fold is not None:
                search.on_fold(offset * total + done, 2 * total)

        return on_fold

    x_l2 = l2_normalize(x)
    raw = cv_search(x, y, replace(search, on_fold=counted(0)))
    l2 = cv_search(x_l2, y, replace(search, on_fold=counted(1)))
    use_l2 = l2.accuracy > raw.accuracy + 1e-12
    log.info(
        "probe: CV accuracy %.4f raw, %.4f L2-normalised: %s", raw.accuracy, l2.accuracy, "L2" if use_l2 else "raw"
    )
    chosen = l2 if use_l2 else raw
    model = _refit(x_l2 if use_l2 else x, y, chosen, search)
    return model, chosen, L2Choice(use_l2, "cross-validation", raw, l2)


def fit_probe(
    x: np.ndarray, y: np.ndarray, seed: int = 0, folds: int = 5, class_weight: ClassWeight = None
) -> LogisticRegression:
    """Pick C by stratified k-fold accuracy on the training data, then refit on all of it."""
    return fit_probe_cv(x, y, Search(seed, folds, class_weight=class_weight))[0]


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
