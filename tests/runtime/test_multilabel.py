"""Multi-label files: several labels per text, each decided by its own threshold, in the same one file and runtime.

The file (tests/runtime/multilabel_file.py) is real: a static int8 table whose dimensions mean positive words,
negative words and "dinner", read by a sigmoid head with the thresholds positive 0.5, negative 0.5, food 0.4.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from probe_runtime import ArtifactError, Classifier, UsageError
from probe_runtime.artifact import KEY_SCHEMA, SCHEMA_VERSION, Quantization, Task, check_schema_version
from probe_runtime.cli import main
from probe_runtime.info import describe

from tests.runtime.multilabel_file import LABELS, THRESHOLDS
from tests.runtime.serving import start_server

TEXTS = ["our dinner was great", "the plot was dull", "the hotel", "our dinner was awful and the plot was great"]
EXPECTED = [["positive", "food"], ["negative"], [], ["positive", "food", "negative"]]


@pytest.fixture(scope="module")
def clf(multilabel_model):
    return Classifier.load(multilabel_model, threads=1)


def test_the_file_says_it_is_multi_label_with_a_threshold_per_label(clf):
    m = clf.manifest
    assert m.task is Task.MULTI_LABEL and m.thresholds is not None
    assert m.thresholds.by_label == THRESHOLDS and m.thresholds.target == "f1"
    assert clf.multi_label and clf.thresholds == THRESHOLDS


def test_probabilities_are_independent_per_label_not_a_distribution(clf):
    proba = clf.predict_proba(TEXTS)
    assert proba.shape == (len(TEXTS), len(LABELS))
    assert proba[0, 0] > 0.8 and proba[0, 2] > 0.8  # both apply: a softmax could not give both
    assert not np.allclose(proba.sum(axis=1), 1)


def test_predict_answers_the_labels_that_pass_their_thresholds_most_probable_first(clf):
    assert clf.predict(TEXTS) == EXPECTED
    for labels, row in zip(clf.predict(TEXTS), clf.predict_proba(TEXTS)):
        order = [LABELS.index(label) for label in labels]  # by probability, ties in the file's label order
        assert order == sorted(order, key=lambda j: (-row[j], j))
    assert clf.predict(TEXTS[2]) == []  # no label applies: a valid answer
    assert clf.predict(TEXTS[0]) == EXPECTED[0]


def test_a_prediction_carries_the_labels_and_every_labels_probability(clf):
    proba = clf.predict_proba(TEXTS)
    for prediction, row, labels in zip(clf.classify(TEXTS), proba, EXPECTED):
        assert list(prediction.labels) == labels
        assert prediction.scores == {label: float(p) for label, p in zip(LABELS, row)}
        # label/score: the most probable label, passed or not (what HF's multi-label pipeline gives with top_k=1)
        assert prediction.label == LABELS[int(row.argmax())] and prediction.score == float(row.max())
        assert prediction.to_dict()["labels"] == labels


def test_single_label_predictions_are_unchanged(fp32_model):
    single = Classifier.load(fp32_model, threads=1)
    prediction = single.classify("the movie was great")
    assert prediction.labels is None and "labels" not in prediction.to_dict()
    assert isinstance(single.predict("the movie was great"), str)
    assert single.thresholds is None and not single.multi_label


def test_pipeline_answers_like_a_hugging_face_multi_label_pipeline(clf):
    proba = clf.predict_proba(TEXTS[0])
    every = clf.pipeline(TEXTS[0], top_k=None)
    assert [d["label"] for d in every] == [LABELS[j] for j in np.argsort(-proba, kind="stable")]
    assert [d["score"] for d in every] == sorted(proba.tolist(), reverse=True)  # sigmoid scores, not renormalised
    assert clf.pipeline(TEXTS[:2], top_k=2) == [clf.pipeline(t, top_k=None)[:2] for t in TEXTS[:2]]
    assert clf.pipeline(TEXTS[1]) == [{"label": "negative", "score": float(clf.predict_proba(TEXTS[1]).max())}]


def test_thresholds_are_overridable_per_label_at_load(multilabel_model):
    strict = Classifier.load(multilabel_model, threads=1, thresholds={"food": 0.99})
    assert strict.thresholds == {**THRESHOLDS, "food": 0.99}
    assert strict.predict(TEXTS[0]) == ["positive"]
    everything = Classifier.load(multilabel_model, threads=1, threshold=0.1)  # one threshold for every label
    assert sorted(everything.predict(TEXTS[2])) == sorted(LABELS)  # ~0.27 each: all pass 0.1
    both = Classifier.load(multilabel_model, threads=1, threshold=0.1, thresholds={"positive": 0.99})
    assert both.thresholds == {"positive": 0.99, "negative": 0.1, "food": 0.1}


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        ({"insult": 0.3}, "has no label 'insult' to set a threshold for; its labels are positive, negative, food"),
        ({"food": 1.5}, "the threshold of label 'food' must be a number from 0 to 1"),
        ({"": 0.5}, "every label must be a non-empty string"),
    ],
)
def test_a_bad_threshold_override_is_one_clear_line(multilabel_model, thresholds, message):
    with pytest.raises(UsageError, match=message):
        Classifier.load(multilabel_model, thresholds=thresholds)


def test_per_label_thresholds_for_a_single_label_file_are_refused(fp32_model):
    with pytest.raises(UsageError, match=r"is single-label: per-label thresholds .* use threshold"):
        Classifier.load(fp32_model, thresholds={"pos": 0.3})


def test_alone_and_batched_give_the_same_answers_bit_for_bit(clf):
    batched = clf.predict_proba(TEXTS)
    alone = np.vstack([clf.predict_proba(text) for text in TEXTS])
    np.testing.assert_array_equal(alone, batched)
    assert [list(clf.classify(t).labels) for t in TEXTS] == [list(p.labels) for p in clf.classify(TEXTS)]


def test_long_texts_take_each_labels_maximum_over_the_windows(multilabel_model):
    filler = " ".join(["the hotel"] * 40)
    long_text = f"our dinner was great {filler} the plot was dull"  # one label at each end, far apart
    windowed = Classifier.load(multilabel_model, threads=1, long_text="window")
    assert windowed.long_text.per_label and windowed.long_text.aggregate == "max"
    prediction = windowed.classify(long_text)
    assert prediction.windows > 1
    assert set(prediction.labels) == {"positive", "food", "negative"}
    truncated = Classifier.load(multilabel_model, threads=1).classify(long_text)
    assert set(truncated.labels) == {"positive", "food"}  # the end was never read
    mean = Classifier.load(multilabel_model, threads=1, long_text="window", window_aggregate="mean")
    assert mean.predict_proba(long_text)[1] < prediction.scores["negative"]


def test_a_multi_label_file_carries_schema_version_4_that_older_runtimes_refuse(multilabel_model):
    props = {p.key: p.value for p in onnx.load(str(multilabel_model)).metadata_props}
    assert props[KEY_SCHEMA] == str(SCHEMA_VERSION) == "4"
    # A version-3 runtime's check, on this very file's version: one line naming the versions and the fix
    with pytest.raises(ArtifactError, match=r"schema version '4', but this probe-runtime reads versions 2 and 3\. "):
        check_schema_version(props[KEY_SCHEMA], str(multilabel_model), readable=("2", "3"))
    assert check_schema_version(props[KEY_SCHEMA], str(multilabel_model)) == "4"


def test_the_static_int8_table_is_its_own_precision(clf):
    assert clf.manifest.quantization is Quantization.INT8_TABLE
    assert not clf.manifest.quantization.batch_dependent
    assert clf.manifest.encoder is not None and clf.manifest.encoder.kind == "static"


def test_the_canaries_check_the_file_on_load(clf):
    assert clf.canary_check is not None and clf.canary_check.passed and clf.canary_check.texts == 24


def test_info_shows_the_task_the_thresholds_and_the_encoder(clf, multilabel_model, capsys):
    lines = "\n".join(describe(str(multilabel_model), clf))
    assert "task          multi-label" in lines
    assert "every label whose probability is at least its threshold (positive 0.5, negative 0.5, food 0.4)" in lines
    assert "thresholds  chosen for f1 on hand-set for the tests" in lines
    assert f"encoder       static table {clf.manifest.encoder.vocab:,} x 8, distilled from tiny-bert" in lines
    assert main(["info", str(multilabel_model), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["task"] == "multi-label" and data["thresholds"]["by_label"] == THRESHOLDS


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--label-threshold", "food"], "must be LABEL=THRESHOLD (e.g. insult=0.3), not 'food'"),
        (["--label-threshold", "food=2"], "'food': the threshold must be a number from 0 to 1, not '2'"),
    ],
)
def test_a_malformed_label_threshold_flag_is_a_usage_error(multilabel_model, capsys, flags, message):
    assert main(["serve", str(multilabel_model), *flags]) == 2
    assert message in capsys.readouterr().err


def test_serve_answers_the_labels_that_pass_in_classify(multilabel_model, clf):
    running = start_server(multilabel_model, "--label-threshold", "food=0.99")
    try:
        answers = running.post("/classify", {"inputs": TEXTS}).json()
        assert [a["labels"] for a in answers] == [[x for x in e if x != "food"] for e in EXPECTED]
        info = running.request("GET", "/info").json()["probe"]
        assert info["task"] == "multi-label" and info["thresholds"] == {**THRESHOLDS, "food": 0.99}
    finally:
        assert running.stop() == 0
