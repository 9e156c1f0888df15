"""Classifier: the Python API apps embed."""

from __future__ import annotations

import numpy as np
import pytest
from probe_runtime import Classifier, InputError, Prediction
from probe_runtime.classifier import available_cores

TEXTS = ["the movie was great", "the plot was awful and the hotel was dull", "excellent", "our dinner felt poor"]


@pytest.fixture(scope="module")
def clf(tiny_artifacts):
    return Classifier.load(tiny_artifacts["int8"], threads=1)


def test_predict_proba_returns_one_probability_row_per_text(clf):
    proba = clf.predict_proba(TEXTS)
    assert proba.shape == (len(TEXTS), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)


def test_labels_come_back_as_in_the_training_data(clf):
    assert clf.labels == ["neg", "pos"]
    assert set(clf.predict(TEXTS)) <= {"neg", "pos"}


def test_one_string_in_gives_one_result_out(clf):
    assert isinstance(clf.predict("excellent"), str)
    assert clf.predict_proba("excellent").shape == (2,)
    result = clf("excellent")
    assert isinstance(result, Prediction)
    assert result.label in clf.labels
    assert result.score == pytest.approx(max(result.scores.values()))


def test_a_list_gives_a_prediction_per_text_in_input_order(clf):
    results = clf.classify(TEXTS)
    assert [r.label for r in results] == clf.predict(TEXTS)
    for text, result in zip(TEXTS, results):
        assert result.label == clf.predict(text)


def test_batching_and_length_sorting_do_not_change_fp32_results(fp32_model):
    clf = Classifier.load(fp32_model)
    together = clf.predict_proba(TEXTS * 5, batch_size=3)
    alone = np.stack([clf.predict_proba(t) for t in TEXTS * 5])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_a_tiny_token_budget_still_classifies_everything(fp32_model):
    clf = Classifier.load(fp32_model)
    np.testing.assert_allclose(clf.predict_proba(TEXTS, max_tokens=1), clf.predict_proba(TEXTS), atol=1e-5)


def test_int8_results_depend_on_batch_mates_only_slightly(clf):
    # Dynamic int8 quantizes activations with a per-batch scale, so batch composition moves
    # probabilities a little; it must never move them much.
    together = clf.predict_proba(TEXTS * 5, batch_size=3)
    alone = np.stack([clf.predict_proba(t) for t in TEXTS * 5])
    np.testing.assert_allclose(together, alone, atol=0.02)


def test_empty_input_gives_an_empty_result(clf):
    assert clf.predict_proba([]).shape == (0, 2)
    assert clf.predict([]) == []


def test_texts_longer_than_max_length_are_truncated_not_rejected(clf):
    long_text = "the movie was great " * 500
    assert clf.predict(long_text) in clf.labels


def test_non_strings_are_refused_with_a_clear_error(clf):
    with pytest.raises(InputError, match="text #1 is int"):
        clf.predict(["fine", 3])


def test_batches_run_concurrently_on_the_requested_threads_with_one_onnxruntime_thread_each(tiny_artifacts):
    threads = min(3, available_cores())  # more than the cores is refused (catalogue: api-threads-beyond-cores)
    clf = Classifier.load(tiny_artifacts["int8"], threads=threads)
    assert clf.threads == threads
    assert clf.session.get_session_options().intra_op_num_threads == 1


def test_concurrent_batches_give_the_same_rows_in_the_same_order_as_one_thread(fp32_model):
    texts = [("the movie was great " * (i % 23)) + f"text {i}" for i in range(300)]
    one = Classifier.load(fp32_model, threads=1).predict_proba(texts, max_tokens=64)
    several = Classifier.load(fp32_model, threads=min(4, available_cores())).predict_proba(texts, max_tokens=64)
    np.testing.assert_allclose(several, one, atol=1e-6)


def test_embed_returns_the_pooled_vectors_the_head_reads(fp32_model, tiny_trained):
    clf = Classifier.load(fp32_model)
    vectors = clf.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 32)
    with np.load(tiny_trained / "head.npz") as head:
        logits = vectors @ head["weight"].T + head["bias"]
    logits = logits / clf.manifest.temperature  # the calibration the export folds into the graph
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax, clf.predict_proba(TEXTS), atol=1e-5)


def test_one_classifier_can_serve_several_caller_threads_at_once(fp32_model):
    from concurrent.futures import ThreadPoolExecutor

    clf = Classifier.load(fp32_model, threads=2)
    texts = [f"the movie was great {i} " * (i % 7 + 1) for i in range(120)]
    expected = clf.predict_proba(texts)
    with ThreadPoolExecutor(4) as callers:
        results = list(callers.map(lambda _: clf.predict_proba(texts), range(8)))
    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-6)


def test_a_call_that_makes_one_big_batch_splits_its_matrices_over_the_threads(fp32_model):
    clf = Classifier.load(fp32_model, threads=2)
    short, long = "a fine film", "the movie was great and the plot was fine " * 12
    clf.predict_proba(short)
    assert clf._sessions.wide is None  # a short text runs on the one-thread session
    one_thread = Classifier.load(fp32_model, threads=1).predict_proba(long)
    np.testing.assert_allclose(clf.predict_proba(long), one_thread, atol=1e-6)
    assert clf._sessions.wide is not None
    assert clf._sessions.wide.get_session_options().intra_op_num_threads == 2


def test_with_spinning_threads_even_a_short_text_alone_splits_its_matrices(fp32_model):
    clf = Classifier.load(fp32_model, threads=2, spinning=True)
    one_thread = Classifier.load(fp32_model, threads=1).predict_proba("a fine film")
    np.testing.assert_allclose(clf.predict_proba("a fine film"), one_thread, atol=1e-6)
    assert clf._sessions.wide is not None  # busy-waiting pool threads make the hand-off pay (benchmarks/spinning.py)
    clf.predict_proba(["a fine film", "a dull one"] * 40)  # batches still run one per thread, on the one-thread session
    assert clf._sessions.wide.get_session_options().intra_op_num_threads == 2


def _predict_in_child(clf, texts, queue):
    queue.put(clf.predict_proba(texts).tolist())


def test_a_forked_child_can_use_a_classifier_its_parent_already_used(fp32_model):
    import multiprocessing

    clf = Classifier.load(fp32_model, threads=2)
    texts = [f"the movie was great {i} " * (i % 7 + 1) for i in range(120)]
    expected = clf.predict_proba(texts)  # the parent's worker threads now exist
    clf.predict_proba("the movie was great and the plot was fine " * 12)  # and its multi-threaded session
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_predict_in_child, args=(clf, texts, queue))
    child.start()
    try:
        result = queue.get(timeout=60)  # without care for the fork this waits forever on dead threads
    finally:
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
    np.testing.assert_allclose(np.array(result, dtype=np.float32), expected, atol=1e-6)


SPIN_KEYS = ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning")


@pytest.mark.parametrize("spinning", [True, False])
def test_spinning_reaches_every_session_and_leaves_the_answers_alone(fp32_model, spinning):
    clf = Classifier.load(fp32_model, threads=2, spinning=spinning)
    long = "the movie was great and the plot was fine " * 12
    other = Classifier.load(fp32_model, threads=2, spinning=not spinning)
    np.testing.assert_allclose(clf.predict_proba([long, "fine"]), other.predict_proba([long, "fine"]), atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(long), other.predict_proba(long), atol=1e-6)
    assert clf.spinning is spinning and clf._sessions.wide is not None  # the long text alone ran on it
    for session in (clf.session, clf._sessions.wide):
        options = session.get_session_options()
        assert [options.get_session_config_entry(key) for key in SPIN_KEYS] == ["1" if spinning else "0"] * 2


def test_spinning_is_off_by_default():
    from probe_runtime.loader import DEFAULT_SPINNING, session_options

    assert DEFAULT_SPINNING is False
    assert session_options(2).get_session_config_entry(SPIN_KEYS[0]) == "0"


@pytest.mark.parametrize("value", [1, "no", None])
def test_spinning_that_is_not_a_bool_is_refused_before_the_file_is_read(tmp_path, value):
    from probe_runtime import UsageError

    with pytest.raises(UsageError, match=r"spinning must be True .* or False .*, not "):
        Classifier.load(tmp_path / "missing.onnx", spinning=value)


def test_one_text_is_tokenized_and_fed_exactly_as_it_would_be_in_a_batch(fp32_model):
    """The single-text fast path (tokenizer.encode, no padding planned) builds the same feeds as the batch path."""
    clf = Classifier.load(fp32_model, threads=1)
    encoder = clf.encoder
    for text in [*TEXTS, "the movie was great " * 500]:  # the last one is truncated
        (alone,) = encoder.encode([text])
        batched = encoder.encode([text, text])[0]
        assert alone.ids == batched.ids and alone.type_ids == batched.type_ids
        assert bool(alone.overflowing) == bool(batched.overflowing)
        one = encoder._pad([alone])
        two = encoder._pad([batched, batched])
        assert list(one) == list(two) == list(encoder.input_names)
        for name in one:
            assert one[name].dtype == two[name].dtype == np.int64
            np.testing.assert_array_equal(one[name][0], two[name][0])
    proba = clf.predict_proba(TEXTS[1])
    assert proba.dtype == np.float32 and proba.shape == (2,)
    np.testing.assert_allclose(proba, clf.predict_proba([TEXTS[1], TEXTS[1]])[0], atol=1e-6)
