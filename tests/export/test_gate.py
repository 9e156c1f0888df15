"""The precision gate decides on measured evidence: one text out of 116 cannot fail an export, a real loss does."""

from __future__ import annotations

import numpy as np
import pytest
from probe_export.gate import GateLimits, agreement, decide, paired_accuracy


def _onehot(pred: np.ndarray, k: int = 2) -> np.ndarray:
    return np.eye(k, dtype=np.float32)[pred]


def test_flips_and_differences_are_counted_against_fp32():
    fp32 = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.7, 0.3]], dtype=np.float32)
    cand = np.array([[0.8, 0.2], [0.6, 0.4], [0.2, 0.8], [0.7, 0.3]], dtype=np.float32)
    a = agreement(fp32, cand)
    assert (a.texts, a.flips, a.flip_rate) == (4, 1, 0.25)
    assert a.max_abs_diff == pytest.approx(0.2) and a.mean_abs_diff == pytest.approx(0.075)
    assert a.flip_rate < a.flip_rate_upper < 1


def test_one_lost_text_out_of_116_is_not_evidence_of_a_loss():
    y = np.r_[np.ones(60, int), np.zeros(56, int)]
    fp32 = y.copy()
    fp32[:10] = 0  # fp32 is 91.4 % accurate
    cand = fp32.copy()
    cand[20] = 0  # the candidate loses exactly one text
    paired = paired_accuracy(fp32, cand, y)
    assert (paired.lost, paired.gained) == (1, 0)
    assert paired.delta_points == pytest.approx(-100 / 116)
    assert paired.p_worse == pytest.approx(0.5)
    verdict = decide(agreement(_onehot(fp32), _onehot(cand)), paired, GateLimits())
    assert verdict.passed, verdict.reasons


def test_a_real_loss_on_2000_texts_fails_with_the_figures_in_the_reason():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    fp32 = np.where(rng.random(2000) < 0.9, y, 1 - y)
    cand = fp32.copy()
    right = np.flatnonzero(fp32 == y)[:30]
    wrong = np.flatnonzero(fp32 != y)[:10]
    cand[right] = 1 - y[right]  # 30 texts lost
    cand[wrong] = y[wrong]  # 10 gained
    paired = paired_accuracy(fp32, cand, y)
    assert (paired.lost, paired.gained) == (30, 10)
    assert paired.p_worse < 0.01
    assert paired.delta_points == pytest.approx(-1.0)
    assert paired.delta_low < paired.delta_points < paired.delta_high < 0
    verdict = decide(agreement(_onehot(fp32), _onehot(cand)), paired, GateLimits(max_flip_rate=0.05))
    assert not verdict.passed
    assert "30 lost, 10 gained" in verdict.reasons[0]


def test_too_many_flips_fail_even_without_labels_and_even_when_they_cancel_out():
    fp32 = np.r_[np.zeros(500, int), np.ones(500, int)]
    cand = fp32.copy()
    cand[:25], cand[500:525] = 1, 0  # 5 % flips, in both directions
    verdict = decide(agreement(_onehot(fp32), _onehot(cand)), None, GateLimits(max_flip_rate=0.02))
    assert not verdict.passed and "5.00% of 1000 texts" in verdict.reasons[0]


def test_no_discordant_texts_means_no_evidence_either_way():
    y = np.array([0, 1, 1, 0])
    paired = paired_accuracy(y, y, y)
    assert (paired.lost, paired.gained, paired.p_worse, paired.delta_points) == (0, 0, 1.0, 0.0)
