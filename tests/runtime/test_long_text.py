"""Long texts: truncation by default, or overlapping windows aggregated by max (detection) or mean."""

from __future__ import annotations

import csv
import json
from itertools import pairwise

import numpy as np
import pytest
from probe_runtime import Classifier, UsageError
from probe_runtime.cli import main as runtime_main
from probe_runtime.long_text import auto_aggregate, background_label

NEGATIVE = "the plot was awful and the acting was dull and boring "
POSITIVE = "the movie was great and the hotel was lovely and excellent "


@pytest.fixture(scope="module")
def fp32(tiny_artifacts) -> str:
    return str(tiny_artifacts["fp32"])


@pytest.fixture(scope="module")
def long_text(fp32) -> str:
    """Negative for well over one window, then positive: truncation sees only the negative part."""
    clf = Classifier.load(fp32)
    head = NEGATIVE * 8
    assert len(clf.encoder.encode([head])[0].ids) >= clf.manifest.max_length
    return head + POSITIVE * 8


def test_texts_that_fit_one_window_get_the_same_probabilities_either_way(fp32):
    texts = ["excellent", NEGATIVE, POSITIVE]
    truncate = Classifier.load(fp32, long_text="truncate").predict_proba(texts)
    window = Classifier.load(fp32, long_text="window").predict_proba(texts)
    np.testing.assert_allclose(window, truncate, atol=1e-6)


def test_windows_start_where_truncation_stops_looking_and_overlap_by_the_stride(fp32, long_text):
    clf = Classifier.load(fp32, long_text="window", window_stride=5)
    windows, owners, _ = clf._text.windower.encode([long_text, "short"])
    assert windows[0].ids == clf.encoder.encode([long_text])[0].ids
    assert list(owners) == [0] * (len(windows) - 1) + [1]
    assert len(windows) > 3
    for before, after in pairwise(windows[:-1]):  # the last window is the short text's
        body_before, body_after = before.ids[1:-1], after.ids[1:-1]  # without [CLS] … [SEP]
        assert body_after[:5] == body_before[-5:]


def _window_texts(clf: Classifier, text: str) -> list[str]:
    """Each window as text, checked to tokenize back to the very same window."""
    windows, _, _ = clf._text.windower.encode([text])
    decoded = [clf.encoder.tokenizer.decode(w.ids) for w in windows]
    assert [e.ids for e in clf.encoder.encode(decoded)] == [w.ids for w in windows]
    return decoded


def test_mean_is_the_average_of_the_window_probabilities(fp32, long_text):
    clf = Classifier.load(fp32, long_text="window", window_aggregate="mean")
    per_window = Classifier.load(fp32, long_text="truncate").predict_proba(_window_texts(clf, long_text))
    np.testing.assert_allclose(clf.predict_proba(long_text), per_window.mean(axis=0), atol=1e-5)


def test_max_takes_the_window_least_like_the_background_class(fp32, long_text):
    clf = Classifier.load(fp32, long_text="window", window_aggregate="max")
    assert clf.long_text.background == "neg"  # no label reads as "nothing found": the first one
    per_window = Classifier.load(fp32, long_text="truncate").predict_proba(_window_texts(clf, long_text))
    np.testing.assert_allclose(clf.predict_proba(long_text), per_window[per_window[:, 0].argmin()], atol=1e-5)


def test_max_never_scores_the_positive_class_lower_than_truncation_or_mean(fp32, long_text):
    texts = [long_text, NEGATIVE * 4, POSITIVE * 4, "excellent"]
    truncate = Classifier.load(fp32, long_text="truncate").predict_proba(texts)[:, 1]
    mean = Classifier.load(fp32, long_text="window", window_aggregate="mean").predict_proba(texts)[:, 1]
    peak = Classifier.load(fp32, long_text="window", window_aggregate="max").predict_proba(texts)[:, 1]
    assert np.all(peak >= truncate - 1e-6) and np.all(peak >= mean - 1e-6)
    assert peak[0] > truncate[0]  # the positive tail is invisible to truncation


@pytest.mark.parametrize(
    ("labels", "aggregate", "background"),
    [
        ([0, 1], "max", 0),
        (["ham", "spam"], "max", "ham"),
        (["NOT", "OFF"], "max", "NOT"),
        (["injection", "benign"], "max", "benign"),
        (["neg", "pos"], "mean", None),
        (["negative", "positive"], "mean", None),
        ([0, 1, 2], "mean", 0),
    ],
)
def test_auto_aggregation_is_max_only_for_binary_detection_labels(labels, aggregate, background):
    assert auto_aggregate(labels) == aggregate
    assert background_label(labels) == background


def test_an_overlap_that_leaves_no_room_is_refused(fp32):
    with pytest.raises(UsageError, match="window-stride"):
        Classifier.load(fp32, long_text="window", window_stride=10_000)
    with pytest.raises(UsageError, match="truncate' or 'window"):
        Classifier.load(fp32, long_text="chunks")


@pytest.mark.parametrize("value", [0, -1, 2.5, "8", True])
def test_max_windows_must_be_a_whole_number_of_at_least_one(fp32, value):
    with pytest.raises(UsageError, match="max_windows must be a whole number"):
        Classifier.load(fp32, long_text="window", max_windows=value)


def test_a_text_longer_than_max_windows_reads_only_its_first_windows_and_says_so(fp32, long_text):
    uncapped = Classifier.load(fp32, long_text="window", window_aggregate="mean", max_windows=1000)
    all_windows = uncapped.classify(long_text)
    assert all_windows.windows > 2 and not all_windows.truncated
    capped = Classifier.load(fp32, long_text="window", window_aggregate="mean", max_windows=2)
    first_two = Classifier.load(fp32, long_text="truncate").predict_proba(_window_texts(uncapped, long_text)[:2])
    result = capped.classify([long_text, "excellent"])
    assert (result[0].windows, result[0].truncated) == (2, True)
    assert (result[1].windows, result[1].truncated) == (1, False)
    np.testing.assert_allclose(capped.predict_proba(long_text), first_two.mean(axis=0), atol=1e-5)


def test_the_default_cap_bounds_a_huge_line(fp32):
    clf = Classifier.load(fp32, long_text="window")
    assert clf.long_text.max_windows == 64
    result = clf.classify("the movie was great " * 20_000)  # ~80,000 tokens: ~1,700 windows uncapped
    assert (result.windows, result.truncated) == (64, True)


def test_truncation_is_reported_per_text(fp32, long_text):
    results = Classifier.load(fp32).classify([long_text, "excellent"])
    assert [(r.windows, r.truncated) for r in results] == [(1, True), (1, False)]


def test_the_default_artifact_truncates_and_records_its_resolved_window_settings(fp32):
    manifest = Classifier.load(fp32).manifest
    assert manifest.long_text == "truncate"
    assert manifest.window_aggregate == "mean"  # labels neg/pos: not a detection task
    assert manifest.window_stride == manifest.max_length // 4


@pytest.fixture(scope="module")
def detection_artifact(tiny_encoder, tiny_data, tmp_path_factory):
    """The tiny probe with 0/1 labels, exported with ``--long-text window``."""
    from probe_export.cli import main

    root = tmp_path_factory.mktemp("detection")
    for split, source in zip(("train", "test"), tiny_data):
        with open(source, newline="", encoding="utf-8") as f, open(root / f"{split}.csv", "w", newline="") as g:
            rows = [(r["text"], int(r["label"] == "pos")) for r in csv.DictReader(f)]
            csv.writer(g).writerows([("text", "label"), *rows])
    model_dir, artifact = root / "model", root / "detect.onnx"
    train = ["train", str(root / "train.csv"), "--test", str(root / "test.csv"), "--model", str(tiny_encoder)]
    assert main([*train, "--out", str(model_dir)]) == 0
    assert main(["export", str(model_dir), "--out", str(artifact), "--long-text", "window"]) == 0
    return artifact


def test_export_stores_the_window_policy_and_the_runtime_follows_it(detection_artifact, long_text):
    clf = Classifier.load(detection_artifact)
    assert clf.manifest.long_text == "window" and clf.manifest.window_aggregate == "max"
    assert clf.long_text.policy == "window" and clf.long_text.background == 0
    windowed = clf.predict_proba(long_text)
    truncated = Classifier.load(detection_artifact, long_text="truncate").predict_proba(long_text)
    assert not np.allclose(windowed, truncated)


def test_classify_keeps_integer_labels_and_takes_the_long_text_option(detection_artifact, long_text, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": long_text}) + "\n" + json.dumps({"text": "awful " * 200_000}) + "\n")
    assert src.stat().st_size > 1_000_000
    outputs = {}
    for policy in ("window", "truncate"):
        out = tmp_path / f"{policy}.jsonl"
        assert runtime_main(["classify", str(detection_artifact), str(src), "-o", str(out), "--long-text", policy]) == 0
        outputs[policy] = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["id"] for r in outputs[policy]] == [1, 2]
        assert all(isinstance(r["label"], int) for r in outputs[policy])
    assert outputs["window"][0]["score"] != outputs["truncate"][0]["score"]
