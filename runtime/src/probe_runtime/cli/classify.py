"""`probe-runtime classify`: the arguments, the progress bar, the summary line and the exit codes.

The work itself (reading, classifying, writing, resuming) is `probe_runtime.classify_files`, which
never prints; this module turns its `Progress` reports into a tqdm bar and its `Summary` into one line.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from tqdm import tqdm

from ..artifact import Label
from ..choices import LongTextPolicy, WindowAggregate
from ..classifier import Classifier
from ..classify_files import (
    WINDOW_ROWS,
    ClassifyOptions,
    Progress,
    Summary,
    check_output,
    classify_files,
    output_lock_for,
    writes_file,
)
from ..cli_support import add_text_column_option, positive_int
from ..decision import check_threshold
from ..errors import UsageError
from ..files import ERROR_MODES, INPUT_FORMATS, input_format
from ..output import PartialOutput
from .options import add_provider_option, add_self_check_option, add_spinning_option, providers, spinning
from .ray_classify import RAY_FORMATS, add_ray_options, cmd_classify_ray, wants_ray

__all__ = ["ProgressBar", "add_command", "cmd_classify", "describe"]


def describe(summary: Summary, labels: Sequence[Label]) -> str:
    """The summary line: rows read = classified + skipped (by reason), and the label distribution."""
    skipped = sum(summary.skipped.values())
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(summary.skipped.items()))
    distribution = ", ".join(f"{label} {summary.labels[label]}" for label in labels)
    text = f"read {summary.read} rows, classified {summary.classified}, skipped {skipped}"
    text += f" ({reasons})" if reasons else ""
    text += f"; labels: {distribution}"
    if summary.resumed_after:
        text += f" (resumed after row {summary.resumed_after})"
    return text


class ProgressBar:
    """A tqdm bar fed by `classify_files`' progress reports: bytes with an ETA when the inputs' size is
    known, rows otherwise; the rows/s of this run (not counting rows a resumed run skipped) beside it."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: tqdm | None = None
        self._started = 0.0
        self._read_before = 0

    def __call__(self, progress: Progress) -> None:
        if self._bar is None:
            self._bar = self._new(progress)
            self._started, self._read_before = time.perf_counter(), progress.read
            return
        self._bar.update(progress.done - self._bar.n)
        rate = (progress.read - self._read_before) / max(time.perf_counter() - self._started, 1e-9)
        self._bar.set_postfix_str(f"{progress.read} rows, {rate:.0f} rows/s", refresh=False)

    def _new(self, progress: Progress) -> tqdm:
        if progress.total is None:
            return tqdm(desc="classifying", unit=" rows", initial=progress.done, disable=not self.enabled)
        return tqdm(
            desc="classifying",
            total=progress.total,
            initial=progress.done,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            disable=not self.enabled,
        )

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Closed however the run ends, so a message after it starts on a line of its own."""
        if self._bar is not None:
            self._bar.close()


def _check_usage(args: argparse.Namespace) -> None:
    """Mistakes in how the command was called: `UsageError` (exit 2, one line), before any work."""

    def fail(message: str) -> None:
        raise UsageError(message)

    to_file = writes_file(args.out)
    if args.inputs.count("-") > 1:
        fail("stdin (-) can be read only once")
    if args.resume and not to_file:
        fail("--resume needs --out FILE (there is nothing to resume on stdout)")
    if args.resume and "-" in args.inputs:
        fail("--resume needs file inputs: stdin cannot be read again from where it stopped")
    if args.format == "parquet":
        fail("--format parquet needs --ray (a local run writes jsonl, csv or tsv)")
    if args.overwrite and not to_file:
        fail("--overwrite needs --out FILE")
    if args.id_column:
        plain = [p for p in args.inputs if input_format(p, args.input_format) in ("text", "dir")]
        if plain:
            fail(f"--id-column needs CSV/TSV/JSONL inputs, but {plain[0]} is read as plain text")
    if to_file and Path(args.out).is_dir():
        fail(f"--out {args.out} is a directory; name a file such as {Path(args.out) / 'predictions.jsonl'}")


def threshold_value(text: str) -> float:
    """An argparse type: a number from 0 to 1."""
    try:
        return check_threshold(float(text), "--threshold")
    except (ValueError, UsageError):
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, not {text!r}") from None


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def cmd_classify(args: argparse.Namespace) -> int:
    if wants_ray(args):
        if args.spinning is not None:
            raise UsageError("--spin/--no-spin is not available with --ray (Ray actors run one thread each by default)")
        return cmd_classify_ray(args)
    _check_usage(args)
    if writes_file(args.out):
        check_output(args.out, args.model, args.inputs, args.overwrite)
    with output_lock_for(args.out):  # held from before the model loads until the output is in place
        return _run(args)


def _load(args: argparse.Namespace) -> Classifier:
    # Passed only when given, so the classifier's own default cap applies otherwise.
    cap = {} if args.max_windows is None else {"max_windows": args.max_windows}
    return Classifier.load(
        args.model,
        threads=args.threads,
        long_text=args.long_text,
        window_stride=args.window_stride,
        window_aggregate=args.window_aggregate,
        providers=providers(args),
        threshold=args.threshold,
        spinning=spinning(args),
        self_check=args.self_check,
        **cap,
    )


def _options(args: argparse.Namespace) -> ClassifyOptions:
    return ClassifyOptions(
        text_column=args.text_column,
        id_column=args.id_column,
        input_format=args.input_format,
        errors=args.errors,
        out_format=args.format,
        all_scores=args.all_scores,
        top_k=args.top_k,
        window_rows=args.window_rows,
        resume=args.resume,
        overwrite=args.overwrite,
    )


def _run(args: argparse.Namespace) -> int:
    clf = _load(args)
    bar = ProgressBar(enabled=sys.stderr.isatty())
    # `kill` then ends the run like Ctrl-C: a message, and the partial file kept for --resume.
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        with bar:
            summary = classify_files(clf, args.inputs, args.out, _options(args), progress=bar, locked=True)
    except KeyboardInterrupt:
        if writes_file(args.out):
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
    where = f" → {args.out}" if writes_file(args.out) else ""
    print(describe(summary, clf.decider.output_labels) + where, file=sys.stderr)
    return 0


DESCRIPTION = """\
Classify each line of a text file, each .txt file of a directory (recursively), or a column of a
CSV/TSV/JSONL file, and write one prediction per row (id, label, score) as JSONL or CSV, in input order.

ids are LINE NUMBERS in the input file, counted from 1 like an editor or `sed -n 5p` does, whatever the
format, so a row can be found again: a .txt line is its line; a JSONL object is the line it is on
(blank lines count as lines); a CSV/TSV record is the line it starts on, so with the header on line 1
the first record is 2 (a record whose quoted text spans lines takes all of them). They are the numbers
error messages cite. For a directory the id is the file path; with --id-column it is that column's value;
with several inputs each id is prefixed with "PATH:".
Empty and whitespace-only rows (and undecodable ones with --errors skip) are NOT classified and NOT
written; they are counted in the summary printed at the end (rows read, classified, skipped, labels).

The output appears under its name only when complete. Until then rows go to .OUT.partial next to it,
checkpointed regularly; after Ctrl-C, kill or a crash, the same command with --resume continues
where it stopped and writes exactly what an uninterrupted run would have; it checks that the model
and the rows already done are byte-identical (sha256) and refuses, naming the file, if one changed.
--out may not be, be inside, or contain the model or an input; an existing --out is replaced only with
--overwrite and only if it is a previous prediction file; two runs cannot write the same --out at once.
Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted."""


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "classify",
        help="classify every text in files",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=DESCRIPTION,
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
    p.add_argument(
        "--format",
        choices=sorted({"jsonl", "csv", "tsv", *RAY_FORMATS}),
        help="output format (default: from --out, else jsonl; with --ray: parquet)",
    )
    p.add_argument(
        "--input-format", choices=INPUT_FORMATS, help="read inputs as this (default: by extension; stdin: text)"
    )
    add_text_column_option(p)
    p.add_argument("--id-column", "--id-field", help="column/field to report as the row id (default: the line number)")
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
        "--threshold",
        type=threshold_value,
        help="replace the artifact's decision rule: two labels, the positive one when its probability is at "
        "least this; more labels, 'abstain' below this best probability (default: the artifact's rule)",
    )
    p.add_argument(
        "--top-k",
        type=positive_int,
        help="also write the K most probable labels after the first (label_2, score_2, ... label_K, score_K)",
    )
    p.add_argument(
        "--long-text",
        choices=LongTextPolicy.values(),
        help="texts longer than the model's max length: truncate, or classify overlapping windows and aggregate "
        "(default: the artifact's policy)",
    )
    p.add_argument("--window-stride", type=int, help="with --long-text window: tokens of overlap between windows")
    p.add_argument(
        "--window-aggregate",
        choices=WindowAggregate.values(),
        help="with --long-text window: max (detection: the most positive window) or mean (default: the artifact's)",
    )
    p.add_argument(
        "--max-windows",
        type=positive_int,
        help="with --long-text window: at most this many windows per text; the rest of a longer text is not read "
        "(default: the runtime's cap). With windows every row also says how many were read (windows) and "
        "whether the text was read only in part (truncated)",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        help="CPU threads (at least 1, at most the cores this process may run on); batches run concurrently, "
        "one thread each (default: all cores)",
    )
    add_provider_option(p)
    add_spinning_option(p)
    add_self_check_option(p)
    p.add_argument("--window-rows", type=positive_int, default=WINDOW_ROWS, help=argparse.SUPPRESS)
    add_ray_options(p)
    p.set_defaults(func=cmd_classify)
