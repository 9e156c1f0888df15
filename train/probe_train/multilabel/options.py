"""`probe train`'s multi-label options: how the labels are laid out, whether the data is multi-label, and the
target each label's threshold is chosen for. Read once into `TrainJob`'s fields (`multilabel_job_fields`)."""

from __future__ import annotations

import argparse
from typing import Any

from probe_runtime.errors import UsageError

from .data import DEFAULT_SEPARATOR
from .thresholds import ThresholdTarget

__all__ = ["add_multilabel_options", "multilabel_job_fields"]


def add_multilabel_options(p: argparse.ArgumentParser) -> None:
    ml = p.add_argument_group(
        "multi-label data (several labels per text, or none)",
        "Detected from the data unless told: a label cell the separator splits, a JSON list in JSONL, or "
        "--label-columns. Each label gets its own logistic regression and its own threshold.",
    )
    which = ml.add_mutually_exclusive_group()
    which.add_argument(
        "--multi-label",
        dest="multi_label",
        action="store_const",
        const=True,
        default=None,
        help="the data is multi-label",
    )
    which.add_argument(
        "--single-label", dest="multi_label", action="store_const", const=False, help="one label per text; no detection"
    )
    ml.add_argument(
        "--label-separator",
        default=None,
        metavar="SEP",
        help=f"what joins several labels in one label cell (default {DEFAULT_SEPARATOR!r}: admiration|gratitude)",
    )
    ml.add_argument(
        "--label-columns",
        default=None,
        metavar="A,B,C",
        help="one 0/1 column per label instead of a label column (e.g. toxic,insult,threat)",
    )
    ml.add_argument(
        "--threshold-target",
        default="f1",
        metavar="TARGET",
        help="what each label's threshold is chosen for on cross-validated predictions: f1 (default), "
        "precision=X (the most recall at precision X) or recall=X",
    )


def _columns(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise UsageError(f"--label-columns {text!r} has an empty column name; write the names joined by commas: a,b,c")
    if len(set(names)) != len(names):
        raise UsageError(f"--label-columns {text!r} names a column twice; name each label's column once")
    return names


def multilabel_job_fields(args: argparse.Namespace) -> dict[str, Any]:
    """`TrainJob`'s multi-label fields from the command line, checked (one usage line per mistake)."""
    columns = _columns(args.label_columns)
    if args.label_separator is not None and not args.label_separator.strip():
        raise UsageError("--label-separator is empty or blank; give the character that joins labels, e.g. '|'")
    if columns and args.label_separator is not None:
        raise UsageError("--label-separator is for a label column; --label-columns reads one 0/1 column per label")
    if args.multi_label is False and (columns or args.label_separator is not None):
        given = "--label-columns" if columns else "--label-separator"
        raise UsageError(f"--single-label and {given} contradict each other; {given} is for multi-label data")
    return {
        "multi_label": args.multi_label,
        "label_separator": args.label_separator,
        "label_columns": columns,
        "threshold_target": ThresholdTarget.parse(args.threshold_target),
    }
