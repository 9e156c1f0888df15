"""`probe-runtime classify`: label every text of one or more files, streaming, resumable, nothing lost.

Rows are read in windows of ``window_rows`` (sorted by length inside each window by the batcher),
classified, and written in input order; memory depends on the window, never on the file. Output
goes through `probe_runtime.output.PartialOutput`, so it appears under its name only when complete
and an interrupted run can be resumed exactly.

Before any work, the output is guarded (`probe_runtime.guard`): an ``--out`` that is, is inside or
contains the model or an input, lies under a file or in an unwritable place, or already exists and is
not a previous prediction file (or is one, without ``--overwrite``) is a usage error; a second run
writing the same ``--out`` is refused at once by a lock that covers the output, its partial file and
its resume state. ``--resume`` identifies the model and the inputs by content: the model's sha256, and
a sha256 of each input's consumed bytes recorded at every checkpoint and checked again while the rows
already done are skipped, so an in-place edit is refused (naming the file) instead of mixing two runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from itertools import chain, islice
from pathlib import Path
from types import FrameType
from typing import Any

from tqdm import tqdm

from .artifact import Label
from .classifier import Classifier
from .errors import InputError, UsageError
from .files import (
    ERROR_MODES,
    INPUT_FORMATS,
    ByteCounter,
    InputChanged,
    Row,
    detect_format,
    input_format,
    input_size,
    read_rows,
)
from .guard import output_lock, refuse_existing_output, refuse_output_over_inputs, refuse_unwritable_output
from .output import PREDICTION_COLUMNS, PartialOutput, RowWriter, file_sha256, is_classify_output

__all__ = ["ClassifyOptions", "Summary", "add_command", "check_output", "classify_files", "cmd_classify"]

WINDOW_ROWS = 4096
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
    window_rows: int = WINDOW_ROWS
    resume: bool = False
    progress: bool = False
    overwrite: bool = False  # replace an existing --out, only if it is a previous prediction file


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

    def describe(self, labels: Sequence[Label]) -> str:
        skipped = sum(self.skipped.values())
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(self.skipped.items()))
        distribution = ", ".join(f"{label} {self.labels[label]}" for label in labels)
        text = f"read {self.read} rows, classified {self.classified}, skipped {skipped}"
        text += f" ({reasons})" if reasons else ""
        text += f"; labels: {distribution}"
        if self.resumed_after:
            text += f" (resumed after row {self.resumed_after})"
        return text


def _windows(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while window := list(islice(rows, size)):
        yield window


def _all_rows(inputs: Sequence[str], options: ClassifyOptions, counter: ByteCounter) -> Iterator[Row]:
    """Rows of every input in order; with several inputs, ids say which file (``path:line``)."""
    for path in inputs:
        rows = read_rows(
            path,
            options.text_column,
            options.id_column,
            errors=options.errors,
            fmt=options.input_format,
            counter=counter,
        )
        prefix = len(inputs) > 1 and input_format(path) != "dir"
        for row in rows:
            yield Row(f"{path}:{row.id}", row.text, row.skip) if prefix else row


def _fingerprint(clf: Classifier, inputs: Sequence[str], options: ClassifyOptions, fmt: str) -> dict[str, Any]:
    """What must not change between a run and its resumption: the model by content, the inputs by path
    (their content is checked while reading, see `ByteCounter`), the options."""
    settings = asdict(options)
    for volatile in ("resume", "progress", "overwrite"):
        settings.pop(volatile)
    settings["out_format"] = fmt
    return {
        "model": {"sha256": file_sha256(clf.source)},
        "inputs": [str(Path(p).resolve()) for p in inputs],
        "options": settings,
        "long_text": asdict(clf.long_text),
    }


def _to_file(out: str | None) -> bool:
    return bool(out) and out != "-"


def check_output(out: str, model: str, inputs: Sequence[str], overwrite: bool = False) -> None:
    """Refuse (`UsageError`) an ``out`` that would destroy something or cannot be written, before any work."""
    refuse_output_over_inputs(out, {"model": model})
    for path in inputs:
        refuse_output_over_inputs(out, {"input": path})
    refuse_unwritable_output(out)
    refuse_existing_output(out, overwrite=overwrite, is_own_kind=is_classify_output, kind="prediction file")


def _lock(out: str | None) -> AbstractContextManager[None]:
    """One writer per output: the lock also covers the partial file and the resume state beside it."""
    return output_lock(out) if out and _to_file(out) else nullcontext()


def output_format(out: str | None, forced: str | None = None) -> str:
    """``jsonl`` unless asked or the output name ends in .csv/.tsv."""
    if forced:
        return forced
    detected = detect_format(out) if out and out != "-" else "jsonl"
    return detected if detected in ("csv", "tsv") else "jsonl"


def classify_files(
    clf: Classifier, inputs: Sequence[str], out: str | None, options: ClassifyOptions = ClassifyOptions()
) -> Summary:
    """Classify every row of ``inputs`` into ``out`` (stdout when None or ``-``); see the module docstring.

    Empty and whitespace-only rows (and undecodable ones under ``errors="skip"``) are not classified
    and not written; they are counted in the returned `Summary`. Raises `UsageError` for an ``out`` that
    `check_output` refuses or that another run is writing.
    """
    if out and _to_file(out):
        check_output(out, clf.source, inputs, options.overwrite)
    with _lock(out):
        return _classify_locked(clf, inputs, out, options)


def _classify_locked(clf: Classifier, inputs: Sequence[str], out: str | None, options: ClassifyOptions) -> Summary:
    """`classify_files` once the output is checked and locked."""
    if options.window_rows < 1:
        raise InputError(f"window_rows must be at least 1, got {options.window_rows}")
    for path in inputs:
        if path != "-" and not Path(path).exists():
            raise InputError(f"input file not found: {path}")
    fmt = output_format(out, options.out_format)
    score_columns = [f"score_{label}" for label in clf.labels] if options.all_scores else []
    fingerprint = _fingerprint(clf, inputs, options, fmt) if _to_file(out) else {}
    output = PartialOutput(
        out, fingerprint, names={"model": f"a different model (the content of {clf.source} changed)"}
    )
    counter = ByteCounter()
    rows = _all_rows(inputs, options, counter)
    sizes = [input_size(p) for p in inputs]
    total = None if None in sizes else sum(s for s in sizes if s is not None)
    saved = output.open(options.resume)
    try:
        summary = Summary()
        if saved is not None:
            summary = Summary.from_progress(saved)
            # Each input must still start with the bytes already classified: checked while skipping.
            counter.expect(saved.get("consumed", []))
            for _ in islice(rows, summary.read):
                pass
        initial = counter.n if total else summary.read
        windows = _windows(rows, options.window_rows)
        first = next(windows, None)  # reading one more window completes the check of every recorded prefix
        if first is None:
            counter.finish()
        output.start()  # only now may a resumed partial file be cut back to its checkpoint
        writer = RowWriter(output.stream, fmt, [*PREDICTION_COLUMNS, *score_columns], header=saved is None)
        if saved is None:
            output.checkpoint(_progress(summary, counter))
        with _progress_bar(options.progress, total, initial) as bar:
            started, done_before = time.perf_counter(), summary.read
            for window in chain([first] if first else [], windows):
                _classify_window(clf, window, writer, summary, options.all_scores)
                output.checkpoint(_progress(summary, counter))
                bar.update((counter.n if total else summary.read) - bar.n)
                rate = (summary.read - done_before) / max(time.perf_counter() - started, 1e-9)
                bar.set_postfix_str(f"{summary.read} rows, {rate:.0f} rows/s", refresh=False)
        counter.finish()
        output.commit()
    except InputChanged:
        output.close(keep=True)  # the work belongs to the old inputs: kept for a resume with them
        raise
    except InputError as exc:
        if saved is not None and counter.verifying:
            # The already-classified part no longer reads as it did: the input changed, the work is kept.
            output.close(keep=True)
            raise InputChanged(
                f"cannot resume: an input changed since the interrupted run ({exc}). "
                "Resume with the same inputs, or run without --resume to start over."
            ) from None
        output.close(keep=False)
        raise
    except BaseException:
        output.close(keep=True)
        raise
    return summary


def _progress(summary: Summary, counter: ByteCounter) -> dict[str, Any]:
    """The resume point: rows done, and the sha256 of the bytes each input has given so far."""
    return {**summary.to_progress(), "consumed": counter.consumed()}


def _classify_window(clf: Classifier, window: list[Row], writer: RowWriter, summary: Summary, all_scores: bool) -> None:
    keep = []
    for row in window:
        if row.skip:
            summary.skipped[row.skip] += 1
        elif not row.text.strip():
            summary.skipped[EMPTY] += 1
        else:
            keep.append(row)
    for row, prediction in zip(keep, clf.classify([r.text for r in keep])):
        record = {"id": row.id, "label": prediction.label, "score": round(prediction.score, 6)}
        if all_scores:
            record.update({f"score_{k}": round(v, 6) for k, v in prediction.scores.items()})
        writer.write(record)
        summary.labels[prediction.label] += 1
    summary.read += len(window)
    summary.classified += len(keep)


def _progress_bar(enabled: bool, total: int | None, initial: int) -> tqdm:
    if total is None:
        return tqdm(desc="classifying", unit=" rows", initial=initial, disable=not enabled)
    return tqdm(
        desc="classifying",
        total=total,
        initial=initial,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not enabled,
    )


def _check_usage(args: argparse.Namespace) -> None:
    """Mistakes in how the command was called: `UsageError` (exit 2, one line), before any work."""

    def fail(message: str) -> None:
        raise UsageError(message)

    to_file = _to_file(args.out)
    if args.inputs.count("-") > 1:
        fail("stdin (-) can be read only once")
    if args.resume and not to_file:
        fail("--resume needs --out FILE (there is nothing to resume on stdout)")
    if args.resume and "-" in args.inputs:
        fail("--resume needs file inputs: stdin cannot be read again from where it stopped")
    if args.overwrite and not to_file:
        fail("--overwrite needs --out FILE")
    if args.id_column:
        plain = [p for p in args.inputs if input_format(p, args.input_format) in ("text", "dir")]
        if plain:
            fail(f"--id-column needs CSV/TSV/JSONL inputs, but {plain[0]} is read as plain text")
    if to_file and Path(args.out).is_dir():
        fail(f"--out {args.out} is a directory; name a file such as {Path(args.out) / 'predictions.jsonl'}")


def _positive_int(value: str) -> int:
    """argparse type for counts that must be at least 1 (threads, rows per window)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def cmd_classify(args: argparse.Namespace) -> int:
    _check_usage(args)
    if _to_file(args.out):
        check_output(args.out, args.model, args.inputs, args.overwrite)
    with _lock(args.out):  # held from before the model loads until the output is in place
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    # Passed only when given, so the classifier's own default cap applies otherwise.
    cap = {} if args.max_windows is None else {"max_windows": args.max_windows}
    clf = Classifier.load(
        args.model,
        threads=args.threads,
        long_text=args.long_text,
        window_stride=args.window_stride,
        window_aggregate=args.window_aggregate,
        **cap,
    )
    options = ClassifyOptions(
        text_column=args.text_column,
        id_column=args.id_column,
        input_format=args.input_format,
        errors=args.errors,
        out_format=args.format,
        all_scores=args.all_scores,
        window_rows=args.window_rows,
        resume=args.resume,
        progress=sys.stderr.isatty(),
        overwrite=args.overwrite,
    )
    # `kill` then ends the run like Ctrl-C: a message, and the partial file kept for --resume.
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        summary = _classify_locked(clf, args.inputs, args.out, options)
    except KeyboardInterrupt:
        if args.out and args.out != "-":
            partial = PartialOutput(args.out, {}).partial
            print(
                f"probe-runtime: interrupted; rows up to the last checkpoint are kept in {partial}. "
                "Run the same command with --resume to continue.",
                file=sys.stderr,
            )
        else:
            print("probe-runtime: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly; point stdout at /dev/null so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    where = f" → {args.out}" if args.out and args.out != "-" else ""
    print(summary.describe(clf.labels) + where, file=sys.stderr)
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "classify",
        help="classify every text in files",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Classify each line of a text file, each .txt file of a directory (recursively), or a column of a
CSV/TSV/JSONL file, and write one prediction per row (id, label, score) as JSONL or CSV, in input order.

ids: the line number (for CSV/TSV, the line the record starts on); the file path for a directory;
the --id-column value if given; prefixed with "PATH:" when several inputs are given.
Empty and whitespace-only rows (and undecodable ones with --errors skip) are NOT classified and NOT
written; they are counted in the summary printed at the end (rows read, classified, skipped, labels).

The output appears under its name only when complete. Until then rows go to .OUT.partial next to it,
checkpointed every window; after Ctrl-C, kill or a crash, the same command with --resume continues
where it stopped and writes exactly what an uninterrupted run would have; it checks that the model
and the rows already done are byte-identical (sha256) and refuses, naming the file, if one changed.
--out may not be, be inside, or contain the model or an input; an existing --out is replaced only with
--overwrite and only if it is a previous prediction file; two runs cannot write the same --out at once.
Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted.""",
    )
    p.add_argument("model", help="the .onnx artifact written by `probe export`")
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="text file (one item per line), directory of .txt files, .csv, .tsv, .jsonl; - for stdin",
    )
    p.add_argument("-o", "--out", help="output file (.jsonl, .csv or .tsv); default stdout")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out; only a previous prediction file (id, label, score) is ever replaced",
    )
    p.add_argument("--format", choices=["jsonl", "csv", "tsv"], help="output format (default: from --out, else jsonl)")
    p.add_argument(
        "--input-format", choices=INPUT_FORMATS, help="read inputs as this (default: by extension; stdin: text)"
    )
    p.add_argument(
        "--text-column",
        "--text-field",
        default="text",
        help="CSV column / JSONL field with the text (default: text)",
    )
    p.add_argument("--id-column", "--id-field", help="column/field to report as the row id (default: line number)")
    p.add_argument(
        "--errors",
        choices=ERROR_MODES,
        default="strict",
        help="bytes that are not UTF-8: strict = stop with an error naming file and line (default), "
        "replace = U+FFFD, skip = drop the row and count it",
    )
    p.add_argument("--all-scores", action="store_true", help="also write every class's probability (score_LABEL)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run into the same --out")
    p.add_argument(
        "--long-text",
        choices=["truncate", "window"],
        help="texts longer than the model's max length: truncate, or classify overlapping windows and aggregate "
        "(default: the artifact's policy)",
    )
    p.add_argument("--window-stride", type=int, help="with --long-text window: tokens of overlap between windows")
    p.add_argument(
        "--window-aggregate",
        choices=["max", "mean", "auto"],
        help="with --long-text window: max (detection: the most positive window) or mean (default: the artifact's)",
    )
    p.add_argument(
        "--max-windows",
        type=_positive_int,
        help="with --long-text window: at most this many windows per text; the rest of a longer text is not read "
        "(default: the runtime's cap)",
    )
    p.add_argument(
        "--threads",
        type=_positive_int,
        help="CPU threads (at least 1); batches run concurrently, one thread each (default: all cores)",
    )
    p.add_argument("--window-rows", type=_positive_int, default=WINDOW_ROWS, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_classify)
