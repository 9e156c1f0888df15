"""`probe-runtime classify`: the arguments, the progress bar, the summary line and the exit codes.

The work itself (reading, classifying, writing, resuming) is `probe_runtime.classify_files`, which
never prints; this module turns its `Progress` reports into a tqdm bar and its `Summary` into one line
(`probe_runtime.cli.report`). The arguments are read once, into a `ClassifyRequest`
(`probe_runtime.cli.classify_request`); a run on Ray goes to `probe_runtime.cli.ray_classify`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from types import FrameType

from ..claim import claim_output
from ..classifier import Classifier
from ..classify_files import WINDOW_ROWS, classify_claimed
from ..cli_support import add_text_column_option, positive_int
from ..files import ERROR_MODES, INPUT_FORMATS
from .classify_request import RAY_FORMATS, classify_request
from .options import add_load_options
from .ray_classify import add_ray_options, cmd_classify_ray
from .report import ProgressBar, describe

__all__ = ["ProgressBar", "add_command", "cmd_classify", "describe"]


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def cmd_classify(args: argparse.Namespace) -> int:
    request = classify_request(args)  # every usage check, before any work
    # The output is checked and locked from before the model loads until it is in place.
    with claim_output(
        request.out, request.model, request.inputs, request.options.overwrite, request.output_kind
    ) as claim:
        if request.ray is not None:
            return cmd_classify_ray(request)
        clf = Classifier.load(request.model, options=request.load)
        bar = ProgressBar(enabled=sys.stderr.isatty())
        # `kill` then ends the run like Ctrl-C: a message, and the partial file kept for --resume.
        previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            with bar:
                summary = classify_claimed(clf, request.inputs, claim, request.options, progress=bar)
        except KeyboardInterrupt:
            if claim.partial is not None:
                print(
                    f"probe-runtime: interrupted; rows up to the last checkpoint are kept in {claim.partial}. "
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
    where = f" → {request.out}" if request.writes_file else ""
    print(describe(summary, clf.decider.output_labels) + where, file=sys.stderr)
    return 0


DESCRIPTION = """\
Classify each line of a text file, each .txt file of a directory (recursively), or a column of a
CSV/TSV/JSONL file, and write one prediction per row (id, label, score) as JSONL or CSV, in input order.
A multi-label file adds labels after score: every label that passes its threshold, most probable first,
possibly none (a JSON list in JSONL; in CSV/TSV one cell joined by --label-separator, default |); label
and score stay, the most probable label and its probability whether or not it passed.

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
    _add_reading_and_writing(p)
    add_load_options(
        p,
        threads_help="CPU threads (at least 1, at most the cores this process may run on); batches run "
        "concurrently, one thread each (default: all cores)",
        threshold_help="replace the artifact's decision rule: two labels, the positive one when its probability "
        "is at least this; more labels, 'abstain' below this best probability (default: the artifact's rule)",
        windows=True,
    )
    p.add_argument("--window-rows", type=positive_int, default=WINDOW_ROWS, help=argparse.SUPPRESS)
    add_ray_options(p)
    p.set_defaults(func=cmd_classify)


def _add_reading_and_writing(p: argparse.ArgumentParser) -> None:
    """The flags of `ClassifyOptions`: how rows are read, and what is written where."""
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
    p.add_argument(
        "--label-separator",
        metavar="SEP",
        help="multi-label files, CSV/TSV output: between the labels of the labels cell (default |; a label "
        "containing it is refused); JSONL and Parquet write the labels as a list",
    )
    p.add_argument("--resume", action="store_true", help="continue an interrupted run into the same --out")
    p.add_argument(
        "--top-k",
        type=positive_int,
        help="also write the K most probable labels after the first (label_2, score_2, ... label_K, score_K)",
    )
