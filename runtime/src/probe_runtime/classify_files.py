"""Label every text of one or more files, streaming, resumable, nothing lost (the engine of `probe-runtime classify`).

The rows' texts flow through `Classifier.classify_stream` in chunks of ``window_rows`` texts (sorted by
length inside each chunk by the batcher) and predictions are written in input order; memory depends on
the chunk, never on the file. Output goes through `probe_runtime.output.PartialOutput`, so it appears
under its name only when complete and an interrupted run can be resumed exactly: a checkpoint is taken
whenever every row read so far has been written (the end of each chunk, see `classify_stream`).
This module never prints: progress goes to an optional callback, the result is a `Summary`.

Before any work, the output is guarded (`probe_runtime.guard`): an ``--out`` that is, is inside or
contains the model or an input, lies under a file or in an unwritable place, or already exists and is
not a previous prediction file (or is one, without ``--overwrite``) is a usage error; a second run
writing the same ``--out`` is refused at once by a lock that covers the output, its partial file and
its resume state. ``--resume`` identifies the model and the inputs by content: the model's sha256, and
a sha256 of each input's consumed bytes recorded at every checkpoint and checked again while the rows
already done are skipped, so an in-place edit is refused (naming the file) instead of mixing two runs.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any

from .artifact import Label
from .classifier import DEFAULT_CHUNK_SIZE, Classifier, Prediction
from .errors import InputError
from .files import ByteCounter, InputChanged, Row, input_format, input_size, read_rows
from .output import (
    PREDICTION_COLUMNS,
    PartialOutput,
    RowWriter,
    check_output,
    claim_output,
    file_sha256,
    output_format,
    writes_file,
)

__all__ = [
    "WINDOW_ROWS",
    "ClassifyOptions",
    "Progress",
    "Summary",
    "check_output",
    "classify_files",
    "output_format",
    "prefixes_ids",
    "writes_file",
]

WINDOW_ROWS = DEFAULT_CHUNK_SIZE  # texts per chunk of the stream, and so between checkpoints
EMPTY = "empty"


@dataclass(frozen=True)
class ClassifyOptions:
    """How inputs are read and outputs written (everything except the model and the paths)."""

    text_column: str = "text"
    id_column: str | None = None
    input_format: str | None = None
    errors: str = "strict"
    out_format: str | None = None
    all_scores: bool = False
    top_k: int | None = None  # also write the k most probable labels (label_2, score_2, ... label_k, score_k)
    window_rows: int = WINDOW_ROWS  # texts classified per chunk; a checkpoint after each
    resume: bool = False
    overwrite: bool = False  # replace an existing --out, only if it is a previous prediction file


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
    """What happened to every input row: read = classified + skipped (by reason)."""

    read: int = 0
    classified: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    labels: Counter[Label] = field(default_factory=Counter)
    resumed_after: int = 0

    def to_progress(self) -> dict[str, Any]:
        """JSON-safe form for the resume state (labels as pairs, so integer labels stay integers)."""
        return {
            "read": self.read,
            "classified": self.classified,
            "skipped": dict(self.skipped),
            "labels": [[label, n] for label, n in self.labels.items()],
        }

    @classmethod
    def from_progress(cls, saved: dict[str, Any]) -> Summary:
        labels: Counter[Label] = Counter({label: n for label, n in saved["labels"]})
        return cls(saved["read"], saved["classified"], Counter(saved["skipped"]), labels, saved["read"])


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
        self._summary.classified += 1
        self._summary.labels[prediction.label] += 1
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


def prefixes_ids(path: str, inputs: Sequence[str]) -> bool:
    """Whether ``path``'s rows report ``PATH:line`` ids: with several inputs a line number alone would not say
    which file (a directory's rows already carry their file's path). The local and the Ray runs share it."""
    return len(inputs) > 1 and input_format(path) != "dir"


def _all_rows(inputs: Sequence[str], options: ClassifyOptions, counter: ByteCounter) -> Iterator[Row]:
    """Rows of every input in order; with several inputs, ids say which file (``path:line``)."""
    for path in inputs:
        prefix = prefixes_ids(path, inputs)
        rows = read_rows(
            path,
            options.text_column,
            options.id_column,
            errors=options.errors,
            fmt=options.input_format,
            counter=counter,
        )
        for row in rows:
            yield Row(f"{path}:{row.id}", row.text, row.skip) if prefix else row


def _fingerprint(clf: Classifier, inputs: Sequence[str], options: ClassifyOptions, fmt: str) -> dict[str, Any]:
    """What must not change between a run and its resumption: the model by content, the inputs by path
    (their content is checked while reading, see `ByteCounter`), the options."""
    settings = asdict(options)
    for volatile in ("resume", "overwrite"):
        settings.pop(volatile)
    settings["out_format"] = fmt
    return {
        "model": {"sha256": file_sha256(clf.source)},
        "inputs": [str(Path(p).resolve()) for p in inputs],
        "options": settings,
        "long_text": asdict(clf.long_text),
        **({"threshold": clf.threshold} if clf.threshold is not None else {}),
    }


ProgressCallback = Callable[[Progress], None]


def classify_files(
    clf: Classifier,
    inputs: Sequence[str],
    out: str | None,
    options: ClassifyOptions = ClassifyOptions(),
    *,
    progress: ProgressCallback | None = None,
    claimed: bool = False,
) -> Summary:
    """Classify every row of ``inputs`` into ``out`` (stdout when None or ``-``); see the module docstring.

    Empty and whitespace-only rows (and undecodable ones under ``errors="skip"``) are not classified
    and not written; they are counted in the returned `Summary`. ``progress`` is called at the start and
    after every checkpoint. Raises `UsageError` for an ``out`` that `check_output` refuses or that another
    run is writing. ``claimed``: the caller already holds `claim_output` on ``out`` (the CLI does, from
    before the model loads).
    """
    if claimed:
        return _classify_claimed(clf, inputs, out, options, progress)
    with claim_output(out, clf.source, inputs, options.overwrite):
        return _classify_claimed(clf, inputs, out, options, progress)


def _check_options(inputs: Sequence[str], options: ClassifyOptions) -> None:
    if options.window_rows < 1:
        raise InputError(f"window_rows must be at least 1, got {options.window_rows}")
    for path in inputs:
        if path != "-" and not Path(path).exists():
            raise InputError(f"input file not found: {path}")


def _classify_claimed(
    clf: Classifier,
    inputs: Sequence[str],
    out: str | None,
    options: ClassifyOptions,
    progress: ProgressCallback | None,
) -> Summary:
    """`classify_files` once the output is checked and locked: the failure handling around `_Run`."""
    _check_options(inputs, options)
    fmt = output_format(out, options.out_format)
    fingerprint = _fingerprint(clf, inputs, options, fmt) if writes_file(out) else {}
    output = PartialOutput(
        out, fingerprint, names={"model": f"a different model (the content of {clf.source} changed)"}
    )
    run = _Run(clf, inputs, output, options, progress or (lambda _: None))
    saved = output.open(options.resume)
    try:
        summary = run.write(saved, fmt)
    except InputChanged:
        output.close(keep=True)  # the work belongs to the old inputs: kept for a resume with them
        raise
    except InputError as exc:
        if saved is not None and run.counter.verifying:
            # The already-classified part no longer reads as it did: the input changed, the work is kept.
            output.close(keep=True)
            raise InputChanged(
                f"cannot resume: an input changed since the interrupted run ({exc}). "
                "Resume with the same inputs, or run without --resume to start over."
            ) from None
        output.close(keep=False)
        raise
    except BaseException as exc:
        # Interrupted (Ctrl-C, kill): kept for --resume. Any other failure (a model that fails mid-run, a
        # full disk) keeps it only when it holds rows worth resuming: one that fails before its first
        # checkpointed row leaves nothing behind.
        output.close(keep=isinstance(exc, KeyboardInterrupt | SystemExit) or run.checkpointed > 0)
        raise
    return summary


class _Run:
    """One run's reading, classifying, writing and checkpointing (the output is already open)."""

    def __init__(
        self,
        clf: Classifier,
        inputs: Sequence[str],
        output: PartialOutput,
        options: ClassifyOptions,
        progress: ProgressCallback,
    ) -> None:
        self.clf, self.output, self.options, self.progress = clf, output, options, progress
        self.counter = ByteCounter()
        self.checkpointed = 0  # rows read (classified or skipped) as of the last checkpoint of this run
        self.rows = _all_rows(inputs, options, self.counter)
        sizes = [input_size(p) for p in inputs]
        self.total = None if None in sizes else sum(s for s in sizes if s is not None)

    def write(self, saved: dict[str, Any] | None, fmt: str) -> Summary:
        summary = self._skip_done(saved)
        self._report(summary)
        pending = _PendingRows(self.rows, summary)
        predictions = self.clf.classify_stream(
            pending.texts(), chunk_size=self.options.window_rows, top_k=self.options.top_k
        )
        first = next(predictions, None)  # reading one more chunk completes the check of every recorded prefix
        if first is None:
            self.counter.finish()
        self.output.start()  # only now may a resumed partial file be cut back to its checkpoint
        writer = RowWriter(self.output.stream, fmt, [*PREDICTION_COLUMNS, *self._extra_columns()], header=saved is None)
        if saved is None:
            self.output.checkpoint(self._state(summary))
        for prediction in chain([first] if first else [], predictions):
            writer.write(self._record(pending.answer(prediction), prediction))
            if pending.settled:  # every row read is written: a consistent resume point
                self._checkpoint(summary)
        pending.finish()
        self._checkpoint(summary)
        self.counter.finish()
        self.output.commit()
        return summary

    def _skip_done(self, saved: dict[str, Any] | None) -> Summary:
        """A resumed run's summary so far, after reading past (and checking) the rows already done."""
        if saved is None:
            return Summary()
        summary = Summary.from_progress(saved)
        self.checkpointed = summary.read  # the earlier run's rows: a failure now must not throw them away
        # Each input must still start with the bytes already classified: checked while skipping.
        self.counter.expect(saved.get("consumed", []))
        for _ in islice(self.rows, summary.read):
            pass
        return summary

    @property
    def _windowed(self) -> bool:
        return self.clf.long_text.policy == "window"

    def _extra_columns(self) -> list[str]:
        """After id, label, score: the original label when display names are shown, the top k, with windows
        the windows read and whether the text was read only in part (``truncated``), every score."""
        columns = ["label_id"] if self.clf.manifest.label_names else []
        for rank in range(2, (self.options.top_k or 0) + 1):
            columns += [f"label_{rank}", f"score_{rank}"]
        if self._windowed:  # how much of each text was read: the window cap may stop before its end
            columns += ["windows", "truncated"]
        shown = self.clf.classes_.tolist()
        return columns + ([f"score_{label}" for label in shown] if self.options.all_scores else [])

    def _record(self, row: Row, prediction: Prediction) -> dict[str, Any]:
        record = {"id": row.id, "label": prediction.label, "score": round(prediction.score, 6)}
        if self.clf.manifest.label_names:
            record["label_id"] = prediction.label_id
        for rank, (label, score) in enumerate(prediction.top[1:], start=2):
            record.update({f"label_{rank}": label, f"score_{rank}": round(score, 6)})
        if self._windowed:
            record.update({"windows": prediction.windows, "truncated": prediction.truncated})
        if self.options.all_scores:
            record.update({f"score_{k}": round(v, 6) for k, v in prediction.scores.items()})
        return record

    def _checkpoint(self, summary: Summary) -> None:
        self.output.checkpoint(self._state(summary))
        self.checkpointed = summary.read
        self._report(summary)

    def _state(self, summary: Summary) -> dict[str, Any]:
        """The resume point: rows done, and the sha256 of the bytes each input has given so far."""
        return {**summary.to_progress(), "consumed": self.counter.consumed()}

    def _report(self, summary: Summary) -> None:
        done = self.counter.n if self.total else summary.read
        self.progress(Progress(summary.read, done, self.total))
