"""Property-based: any Python string through `Classifier` is a distribution, or a ProbeError, never a crash.

The strategy mixes every code point Python can hold (control characters, NUL, lone surrogates, emoji,
right-to-left scripts, combining marks) with very long strings. The default run is a fast subset;
`pytest -m slow tests/runtime/test_fuzz.py` runs the long variant (10,000+ examples per property).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from probe_runtime import Classifier, ProbeError

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LONG = settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_ANY = st.characters(codec=None)  # every code point, surrogates included
_CONTROL_AND_MARKS = ["\x00", "\t", "\n", "\r", "\x1b", "\u200b", "\u200f", "\u202e", "\u0301", "\u0338", "\ufeff"]
_SURROGATES = ["\ud800", "\udcff"]
_SCRIPTS = ["😀", "👩\u200d👩\u200d👧", "🇫🇷", "שלום", "مرحبا", "ア", "𝔤", "\U0010ffff", "great", "awful", " "]
_NASTY = st.sampled_from([*_CONTROL_AND_MARKS, *_SURROGATES, *_SCRIPTS])
_PIECES = st.one_of(_NASTY, _ANY)


def _mixed(max_size: int) -> st.SearchStrategy[str]:
    return st.lists(_PIECES, max_size=max_size).map("".join)


def _repeated(unit: str, times: int) -> str:
    return (unit * times)[:100_000]


TEXTS = st.one_of(
    st.text(_ANY, max_size=40),
    _mixed(200),
    st.builds(_repeated, st.lists(_PIECES, min_size=1, max_size=8).map("".join), st.integers(1, 100_000)),
)


@pytest.fixture(scope="module", params=["int8", "fp32"])
def clf(request, tiny_artifacts):
    return Classifier.load(tiny_artifacts[request.param], threads=1)


def _is_distribution(row: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(row)) and np.all(row >= 0) and abs(float(row.sum()) - 1.0) < 1e-4)


def _one(clf: Classifier, text: str) -> None:
    try:
        first = clf.predict_proba(text)
    except ProbeError:
        with pytest.raises(ProbeError):  # refused the same way every time
            clf.predict_proba(text)
        return
    assert first.shape == (len(clf.labels),) and _is_distribution(first)
    np.testing.assert_array_equal(clf.predict_proba(text), first)
    prediction = clf(text)
    assert prediction.label in clf.labels and prediction.score == pytest.approx(float(first.max()), abs=1e-6)


def _batch(clf: Classifier, texts: list[str]) -> None:
    try:
        first = clf.predict_proba(texts)
    except ProbeError:
        with pytest.raises(ProbeError):
            clf.predict_proba(texts)
        return
    assert first.shape == (len(texts), len(clf.labels))
    assert all(_is_distribution(row) for row in first)
    np.testing.assert_array_equal(clf.predict_proba(texts), first)


@FAST
@given(text=TEXTS)
def test_any_string_is_classified_or_refused_with_a_probe_error(clf, text):
    _one(clf, text)


@FAST
@given(texts=st.lists(TEXTS, max_size=12))
def test_any_batch_is_classified_or_refused_with_a_probe_error(clf, texts):
    _batch(clf, texts)


@pytest.mark.slow
@LONG
@given(text=TEXTS)
def test_any_string_long_run(clf, text):
    _one(clf, text)


@pytest.mark.slow
@LONG
@given(texts=st.lists(TEXTS, max_size=12))
def test_any_batch_long_run(clf, texts):
    _batch(clf, texts)
