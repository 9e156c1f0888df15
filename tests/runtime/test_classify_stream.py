"""`Classifier.classify_stream`: predict's answers over any iterable of texts, read lazily, chunk by chunk."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

import pytest
from probe_runtime import Classifier, InputError, UsageError

TEXTS = [
    "the movie was great",
    "the plot was awful",
    "excellent",
    "our dinner felt poor",
    "the hotel was dull",
    "a lovely quiet evening",
    "terrible service and cold food",
]


@pytest.fixture(scope="module")
def clf(tiny_artifacts) -> Classifier:
    return Classifier.load(tiny_artifacts["fp32"], threads=1)


class Counted:
    """An iterator over ``texts`` that counts what was taken and fails loudly if read past ``limit``."""

    def __init__(self, texts: list[str], limit: int) -> None:
        self.texts, self.limit, self.taken = texts, limit, 0

    def __iter__(self) -> Iterator[str]:
        for text in self.texts:
            if self.taken == self.limit:
                raise AssertionError(f"the stream read text #{self.taken}, past the {self.limit} it needed")
            self.taken += 1
            yield text


def test_one_chunk_gives_exactly_classify_answers(clf):
    assert list(clf.classify_stream(iter(TEXTS))) == clf.classify(TEXTS)


@pytest.mark.parametrize("chunk_size", [1, 2, 3])
def test_small_chunks_give_predict_labels_and_the_same_probabilities(clf, chunk_size):
    streamed = list(clf.classify_stream((t for t in TEXTS), chunk_size=chunk_size))
    assert [p.label for p in streamed] == clf.predict(TEXTS)
    expected = clf.predict_proba(TEXTS)
    for prediction, row in zip(streamed, expected):
        assert list(prediction.scores.values()) == pytest.approx(row.tolist(), abs=1e-5)


def test_texts_are_taken_one_chunk_at_a_time_only_when_needed(clf):
    source = Counted(TEXTS, limit=4)
    stream = clf.classify_stream(source, chunk_size=2)
    assert source.taken == 0  # nothing is read before the first prediction is asked for
    next(stream)
    assert source.taken == 2
    assert len(list(islice(stream, 3))) == 3  # predictions 2-4: the second chunk, read only now
    assert source.taken == 4
    with pytest.raises(AssertionError, match="past the 4"):
        next(stream)  # the fifth prediction needs the third chunk


def test_an_endless_stream_is_fine_when_only_part_is_consumed(clf):
    def forever() -> Iterator[str]:
        while True:
            yield from TEXTS

    first = list(islice(clf.classify_stream(forever(), chunk_size=3), 10))
    assert [p.label for p in first] == clf.predict((TEXTS * 2)[:10])


def test_a_bad_text_is_named_by_its_place_in_the_whole_stream_after_earlier_chunks(clf):
    stream = clf.classify_stream(["fine", "good", "nice", ""], chunk_size=2)
    assert len(list(islice(stream, 2))) == 2
    with pytest.raises(InputError, match="text #3 is empty"):
        next(stream)


@pytest.mark.parametrize(
    ("texts", "options", "error", "expected"),
    [
        ("one text", {}, InputError, r"texts is one str; classify_stream takes an iterable"),
        (None, {}, InputError, "texts is None"),
        ({"a": "great"}, {}, InputError, "texts is a dict"),
        (42, {}, InputError, "texts is int; pass an iterable of strings"),
        (TEXTS, {"chunk_size": 0}, UsageError, "chunk_size must be a whole number of 1 or more"),
        (TEXTS, {"batch_size": -1}, UsageError, "batch_size must be"),
    ],
)
def test_misuse_is_refused_at_the_call_not_at_first_use(clf, texts, options, error, expected):
    with pytest.raises(error, match=expected):
        clf.classify_stream(texts, **options)


def test_an_empty_stream_gives_no_predictions(clf):
    assert list(clf.classify_stream([])) == []
