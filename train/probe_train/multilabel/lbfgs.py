"""Many independent L-BFGS minimisations that share one data matrix, run in lockstep: one product for all.

Why not scipy's or scikit-learn's L-BFGS: both minimise one problem at a time, so 28 labels' logistic
regressions read the embedding matrix 28 times per iteration (matrix-vector products, bound by memory
bandwidth). Summing the labels' objectives into one problem lets one matrix-matrix product serve every
label, but a single L-BFGS then shares its curvature history and line search across unrelated labels and
needed 4x the iterations of one label alone (GoEmotions-sized synthetic data, C=1: 63 against 13-22).
Here each label (column) keeps its own history, step length and stopping test, exactly as if it were
minimised alone, and only the function/gradient evaluations are batched: every label still in progress
is evaluated at its own trial point by one product. No library offers that; this is the textbook
two-loop recursion (Nocedal & Wright, algorithm 7.4) with a backtracking Armijo line search, which
suffices because every objective here is strictly convex (L2-penalised logistic loss), so s·y > 0 always.

Stopping, per column, like scikit-learn's lbfgs: the largest gradient component <= ``tol``, or a relative
decrease of the objective below 64 machine epsilons, or ``max_iter`` iterations.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["Objective", "minimize_columns"]

# (theta [p, k], columns [k] into the problem's labels) -> (value [k], gradient [p, k]) of those columns
Objective = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
HISTORY = 10  # curvature pairs kept per column (scipy's default maxcor)
ARMIJO = 1e-4
MAX_HALVINGS = 40
FTOL = 64 * np.finfo(float).eps


def _direction(g: np.ndarray, s: np.ndarray, y: np.ndarray, rho: np.ndarray, newest: np.ndarray) -> np.ndarray:
    """-H·g per column by the two-loop recursion; ``s``, ``y`` [HISTORY, p, k] (rho 0: an empty slot)."""
    q = g.copy()
    alphas = []
    order = [(newest - i) % HISTORY for i in range(HISTORY)]  # newest first, per column
    cols = np.arange(g.shape[1])
    for slot in order:
        alpha = rho[slot, cols] * np.einsum("pk,pk->k", s[slot, :, cols].T, q)
        q -= alpha * y[slot, :, cols].T
        alphas.append(alpha)
    s_new, y_new = s[newest, :, cols].T, y[newest, :, cols].T
    yy = np.einsum("pk,pk->k", y_new, y_new)
    has = rho[newest, cols] > 0
    gamma = np.where(has, np.einsum("pk,pk->k", s_new, y_new) / np.where(has, yy, 1.0), 1.0)
    r = q * gamma
    for slot, alpha in zip(reversed(order), reversed(alphas)):
        beta = rho[slot, cols] * np.einsum("pk,pk->k", y[slot, :, cols].T, r)
        r += s[slot, :, cols].T * (alpha - beta)
    return -r


def _line_search(
    objective: Objective, theta: np.ndarray, f: np.ndarray, g: np.ndarray, d: np.ndarray, cols: np.ndarray, first: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backtracking from step 1 (the first step: 1/‖g‖₁, as a start without curvature) until Armijo holds."""
    step = 1.0 / np.maximum(np.abs(g).sum(axis=0), 1e-12) if first else np.ones(len(cols))
    slope = np.einsum("pk,pk->k", g, d)
    new_theta, new_f, new_g = theta.copy(), f.copy(), g.copy()
    todo = np.arange(len(cols))
    for _ in range(MAX_HALVINGS):
        trial = theta[:, todo] + step[todo] * d[:, todo]
        value, grad = objective(trial, cols[todo])
        ok = value <= f[todo] + ARMIJO * step[todo] * slope[todo]
        accepted = todo[ok]
        new_theta[:, accepted], new_f[accepted], new_g[:, accepted] = trial[:, ok], value[ok], grad[:, ok]
        todo = todo[~ok]
        if len(todo) == 0:
            break
        step[todo] *= 0.5
    return new_theta, new_f, new_g  # a column no step decreased stays where it was (and then stops)


def minimize_columns(
    objective: Objective, start: np.ndarray, *, tol: float = 1e-4, max_iter: int = 3000
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise each column's objective from ``start`` [p, k]; the solutions [p, k] and iterations per column."""
    k = start.shape[1]
    theta = start.astype(np.float64, copy=True)
    f, g = objective(theta, np.arange(k))
    s = np.zeros((HISTORY, *theta.shape))
    y = np.zeros_like(s)
    rho = np.zeros((HISTORY, k))
    newest = np.full(k, HISTORY - 1)
    iterations = np.zeros(k, dtype=np.int64)
    active = np.abs(g).max(axis=0) > tol
    while active.any():
        cols = np.flatnonzero(active)
        d = _direction(g[:, cols], s[:, :, cols], y[:, :, cols], rho[:, cols], newest[cols])
        first = iterations[cols] == 0
        new_theta, new_f, new_g = _line_search(
            objective, theta[:, cols], f[cols], g[:, cols], d, cols, bool(first.all())
        )
        step, change = new_theta - theta[:, cols], new_g - g[:, cols]
        curvature = np.einsum("pk,pk->k", step, change)
        slot = (newest[cols] + 1) % HISTORY
        good = curvature > 1e-12
        s[slot[good], :, cols[good]] = step[:, good].T
        y[slot[good], :, cols[good]] = change[:, good].T
        rho[slot[good], cols[good]] = 1.0 / curvature[good]
        newest[cols[good]] = slot[good]
        decrease = (f[cols] - new_f) / np.maximum(np.maximum(np.abs(f[cols]), np.abs(new_f)), 1.0)
        theta[:, cols], f[cols], g[:, cols] = new_theta, new_f, new_g
        iterations[cols] += 1
        done = (np.abs(new_g).max(axis=0) <= tol) | (decrease <= FTOL) | (iterations[cols] >= max_iter)
        active[cols[done]] = False
    return theta, iterations
