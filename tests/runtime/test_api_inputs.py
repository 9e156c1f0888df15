"""The Python API refuses bad input with the project's own errors and a message naming the text or option."""

from __future__ import annotations

import numpy as np
import pytest
from probe_runtime import Classifier, InputError, UsageError


@pytest.fixture(scope="module")
def clf(tiny_artifacts):
    return Classifier.load(tiny_artifacts["fp32"], threads=1)


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (None, "texts is None"),
        ({"a": "great"}, r"texts is a dict; pass a list of strings, e.g. list\(d.values\(\)\)"),
        (b"great", r"texts is bytes; decode it to a string first"),
        (bytearray(b"great"), "texts is bytearray"),
        ({"great", "awful"}, "texts is a set, which has no order"),
        (42, "texts is int; pass a string or a list of strings"),
        (["fine", None], "text #1 is NoneType, not str"),
        (["fine", 3], "text #1 is int, not str"),
        (["fine", b"bytes"], "text #1 is bytes, not str; decode it"),
        (["fine", ["nested"]], "text #1 is list, not str"),
        ("\udcff", r"the text holds a lone surrogate U\+DCFF at character 0"),
        (["fine", "ok \ud800 then"], r"text #1 holds a lone surrogate U\+D800 at character 3"),
        ("", "the text is empty"),
        (["fine", "   \t\n"], "text #1 is only whitespace"),
        (["fine", "good", ""], "text #2 is empty"),
        ("\u3000\u2028", "the text is only whitespace"),
    ],
)
@pytest.mark.parametrize("method", ["classify", "predict", "predict_proba", "embed", "__call__"])
def test_bad_texts_are_an_input_error_naming_the_text(clf, method, texts, expected):
    with pytest.raises(InputError, match=expected):
        getattr(clf, method)(texts)


def test_a_lone_surrogate_used_to_be_a_raw_type_error_and_is_not_any_more(clf):
    with pytest.raises(InputError, match="errors='replace'"):
        clf("\udcff")


def test_valid_unicode_of_every_kind_is_classified(clf):
    texts = ["😀 great", "שלום עולם", "e\u0301te\u0301", "\x00nul", "a\u200bb", "𝔤𝔯𝔢𝔞𝔱"]
    proba = clf.predict_proba(texts)
    assert proba.shape == (len(texts), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)


def test_embed_of_one_string_is_one_vector(clf):
    one = clf.embed("hello")
    assert one.shape == (32,)
    np.testing.assert_allclose(one, clf.embed(["hello"])[0], atol=1e-6)


def test_iterables_other_than_sets_and_mappings_are_fine(clf):
    expected = clf.predict(["great", "awful"])
    assert clf.predict(("great", "awful")) == expected
    assert clf.predict(t for t in ["great", "awful"]) == expected
    assert clf.predict(np.array(["great", "awful"])) == expected


@pytest.mark.parametrize("threads", [0, -2, 1.5, "2", True])
def test_load_refuses_a_bad_thread_count(tiny_artifacts, threads):
    with pytest.raises(UsageError, match="threads must be a whole number of 1 or more"):
        Classifier.load(tiny_artifacts["fp32"], threads=threads)


def test_load_options_are_keyword_only(tiny_artifacts):
    with pytest.raises(TypeError):
        Classifier.load(tiny_artifacts["fp32"], 2)  # which option would 2 be? It must be named.


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("long_text", "chunks", "long_text must be 'truncate' or 'window'"),
        ("window_aggregate", "median", "window aggregate must be 'max', 'mean' or 'auto'"),
        ("window_stride", -1, "window_stride must be a whole number of tokens"),
        ("window_stride", "4", "window_stride must be a whole number of tokens"),
        ("max_windows", 0, "max_windows must be a whole number of 1 or more"),
    ],
)
def test_load_refuses_bad_long_text_options(tiny_artifacts, option, value, expected):
    with pytest.raises(UsageError, match=expected):
        Classifier.load(tiny_artifacts["fp32"], **{option: value})


@pytest.mark.parametrize(("option", "value"), [("batch_size", 0), ("max_tokens", -1), ("batch_size", 2.0)])
def test_call_options_are_checked(clf, option, value):
    with pytest.raises(UsageError, match=f"{option} must be a whole number of 1 or more"):
        clf.predict_proba(["great", "awful"], **{option: value})
