"""Answering rows: the classifier's predictions paired with the rows they belong to, as the records a
prediction file holds, with a `Checkpoint` wherever every row read so far has been answered.

The stage between the reader (`probe_runtime.files.read_inputs`) and the writer
(`probe_runtime.output.PartialOutput.write`): `Answers.items` pulls rows, hands their texts to
`Classifier.classify_stream` in chunks (memory depends on the chunk, never on the file), and yields each
prediction's record in input order. Rows that are not classified (empty, whitespace-only, undecodable under
``errors="skip"``) are counted in the run's `Summary`, never written. A resumed run's rows already done are
read past (the reader checks them against what the earlier run consumed) and its summary carries on.
Nothing here prints: progress goes to an optional callback as `Progress` records.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import Any

from .artifact import Label
from .classifier import Classifier, Prediction
from .files import ByteCounter, Row
from .output import LABELS_COLUMN, PREDICTION_COLUMNS, Checkpoint

__all__ = ["EMPTY", "Answers", "Progress", "ProgressCallback", "Summary"]

EMPTY = "empty"


@dataclass(frozen=True)
class Progress:
    """Where a run is, reported at its start and after every checkpoint.

    ``done`` counts bytes of input consumed when ``total`` (the inputs' size in bytes) is known, rows read
    when it is not (stdin); ``read`` is always rows. A resumed run starts at the rows already done.
    """

    read: int
    done: int
    total: int | None


@dataclass
class Summary:
    """What happened to every input row: read = classified + skipped (by reason).

    ``labels`` counts the answers: each text's label, or for a multi-label file (``multi_label``) each label of
    each text's set, so the counts need not add up to the texts; ``unlabelled`` counts the texts whose set is empty.
    """

    read: int = 0
    classified: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    labels: Counter[Label] = field(default_factory=Counter)
    resumed_after: int = 0
    multi_label: bool = False
    unlabelled: int = 0

    def count(self, prediction: Prediction) -> None:
        """One more text classified: its label, or every label of its set (an empty set: `unlabelled`)."""
        self.classified += 1
        if prediction.labels is None:
            self.labels[prediction.label] += 1
            return
        self.labels.update(prediction.labels)
        self.unlabelled += not prediction.labels

    def count_sets(self, label_sets: list[list[Label]]) -> None:
        """`count` for answers that arrive as label sets (a Ray run's ``labels`` column)."""
        self.classified += len(label_sets)
        for labels in label_sets:
            self.labels.update(labels)
            self.unlabelled += not labels

    def to_progress(self) -> dict[str, Any]:
        """JSON-safe form for the resume state (labels as pairs, so integer labels stay integers)."""
        progress = {
            "read": self.read,
            "classified": self.classified,
            "skipped": dict(self.skipped),
            "labels": [[label, n] for label, n in self.labels.items()],
        }
        return {**progress, "unlabelled": self.unlabelled} if self.multi_label else progress

    @classmethod
    def from_progress(cls, saved: dict[str, Any]) -> Summary:
        labels: Counter[Label] = Counter({label: n for label, n in saved["labels"]})
        summary = cls(saved["read"], saved["classified"], Counter(saved["skipped"]), labels, saved["read"])
        if "unlabelled" in saved:
            summary.multi_label, summary.unlabelled = True, saved["unlabelled"]
        return summary


class _PendingRows:
    """The rows read but not yet answered, between the file reader and `Classifier.classify_stream`.

    `texts` hands the stream the texts to classify and keeps every row it reads, the classified ones as
    rows, the others (empty, whitespace-only, undecodable) as a count per reason for each run of them, so
    memory stays bounded by the chunk however many rows are skipped. `answer` pairs the next prediction
    with its row, counting the skipped rows before it. When nothing is pending, every row read has been
    written: the reader's byte count then matches the rows done, which is what a checkpoint must record.
    """

    def __init__(self, rows: Iterator[Row], summary: Summary) -> None:
        self._rows, self._summary = rows, summary
        self._pending: deque[Row | Counter[str]] = deque()

    def texts(self) -> Iterator[str]:
        for row in self._rows:
            reason = _skip_reason(row)
            if reason is None:
                self._pending.append(row)
                yield row.text
                continue
            run = self._pending[-1] if self._pending else None
            if not isinstance(run, Counter):
                run = Counter()
                self._pending.append(run)
            run[reason] += 1

    def answer(self, prediction: Prediction) -> Row:
        """The row ``prediction`` belongs to (the skipped rows before it are counted as read)."""
        self._settle_skipped()
        row = self._pending.popleft()
        assert isinstance(row, Row)  # the stream answers only texts that `texts` gave it
        self._summary.read += 1
        self._summary.count(prediction)
        return row

    def finish(self) -> None:
        """The stream ended: what is still pending was skipped (trailing empty rows, say)."""
        self._settle_skipped()

    @property
    def settled(self) -> bool:
        return not self._pending

    def _settle_skipped(self) -> None:
        while self._pending and isinstance(run := self._pending[0], Counter):
            self._pending.popleft()
            self._summary.read += sum(run.values())
            self._summary.skipped.update(run)


def _skip_reason(row: Row) -> str | None:
    """Why ``row`` is not classified (the reader's reason, or empty), else None."""
    if row.skip:
        return row.skip
    return None if row.text.strip() else EMPTY


ProgressCallback = Callable[[Progress], None]


class Answers:
    """One run's records: their columns and each row's values. ``window_rows``: texts per chunk of the stream,
    and so at most between checkpoints; ``top_k``, ``all_scores``: the extra columns asked for."""

    def __init__(
        self,
        clf: Classifier,
        *,
        window_rows: int,
        top_k: int | None = None,
        all_scores: bool = False,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.clf, self.window_rows, self.top_k, self.all_scores = clf, window_rows, top_k, all_scores
        self.progress = progress or (lambda _: None)
        self.summary = Summary(multi_label=clf.multi_label)
        labels = [LABELS_COLUMN] if clf.multi_label else []
        self.columns = [*PREDICTION_COLUMNS, *labels, *self._extra_columns()]

    def items(
        self, rows: Iterator[Row], counter: ByteCounter, saved: dict[str, Any] | None, total: int | None
    ) -> Iterator[dict[str, Any] | Checkpoint]:
        """The records of ``rows`` in input order, a `Checkpoint` first (once a resumed run's rows already done
        are read past and checked) and wherever every row read is answered; ``total``: the inputs' bytes."""
        summary = Summary(multi_label=self.clf.multi_label) if saved is None else Summary.from_progress(saved)
        self.summary = summary
        for _ in islice(rows, summary.read):  # the earlier run's rows, checked by ``counter`` as they are read
            pass
        self._report(summary, counter, total)
        pending = _PendingRows(rows, summary)
        predictions = self.clf.classify_stream(pending.texts(), chunk_size=self.window_rows, top_k=self.top_k)
        first = next(predictions, None)  # reading one more chunk completes the check of every recorded prefix
        yield Checkpoint(summary.read, _state(summary, counter))
        for prediction in chain([first] if first else [], predictions):
            yield self._record(pending.answer(prediction), prediction)
            if pending.settled:  # every row read is written: a consistent resume point
                yield Checkpoint(summary.read, _state(summary, counter))
                self._report(summary, counter, total)
        pending.finish()
        yield Checkpoint(summary.read, _state(summary, counter))
        self._report(summary, counter, total)

    @property
    def _windowed(self) -> bool:
        return self.clf.long_text.policy == "window"

    def _extra_columns(self) -> list[str]:
        """After id, label, score (and a multi-label file's labels): the original label when display names are
        shown, the top k, with windows the windows read and whether the text was read only in part
        (``truncated``), every score."""
        columns = ["label_id"] if self.clf.manifest.label_names else []
        for rank in range(2, (self.top_k or 0) + 1):
            columns += [f"label_{rank}", f"score_{rank}"]
        if self._windowed:  # how much of each text was read: the window cap may stop before its end
            columns += ["windows", "truncated"]
        shown = self.clf.classes_.tolist()
        return columns + ([f"score_{label}" for label in shown] if self.all_scores else [])

    def _record(self, row: Row, prediction: Prediction) -> dict[str, Any]:
        record = {"id": row.id, "label": prediction.label, "score": round(prediction.score, 6)}
        if prediction.labels is not None:
            record[LABELS_COLUMN] = list(prediction.labels)
        if self.clf.manifest.label_names:
            record["label_id"] = prediction.label_id
        for rank, (label, score) in enumerate(prediction.top[1:], start=2):
            record.update({f"label_{rank}": label, f"score_{rank}": round(score, 6)})
        if self._windowed:
            record.update({"windows": prediction.windows, "truncated": prediction.truncated})
        if self.all_scores:
            record.update({f"score_{k}": round(v, 6) for k, v in prediction.scores.items()})
        return record

    def _report(self, summary: Summary, counter: ByteCounter, total: int | None) -> None:
        done = counter.n if total else summary.read
        self.progress(Progress(summary.read, done, total))


def _state(summary: Summary, counter: ByteCounter) -> dict[str, Any]:
    """The resume point: rows done, and the sha256 of the bytes each input has given so far."""
    return {**summary.to_progress(), "consumed": counter.consumed()}
