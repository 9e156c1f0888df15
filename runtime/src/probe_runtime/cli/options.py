"""Options that mean the same thing in several `probe-runtime` commands, declared once so they cannot drift.

`add_load_options` adds `Classifier.load`'s flags to a command and `load_options` turns them into the one
`LoadOptions` record the command loads with: the arguments are read there, once, and not consulted again.
"""

from __future__ import annotations

import argparse

import onnxruntime as ort

from ..choices import LongTextPolicy, WindowAggregate
from ..cli_support import positive_int
from ..decision import check_threshold
from ..errors import UsageError
from ..load_options import LoadOptions
from ..loader import DEFAULT_PROVIDERS, DEFAULT_SPINNING

__all__ = [
    "add_load_options",
    "add_provider_option",
    "add_self_check_option",
    "add_spinning_option",
    "label_threshold_value",
    "load_options",
    "providers",
    "spinning",
    "threshold_value",
]


def add_load_options(
    p: argparse._ActionsContainer, threads_help: str, threshold_help: str | None = None, windows: bool = False
) -> None:
    """``--threads``, ``--provider``, ``--spin/--no-spin``, ``--no-self-check``; ``--threshold`` when the command
    decides labels (``threshold_help``); the long-text flags when it reads texts of any length (``windows``)."""
    p.add_argument("--threads", type=positive_int, help=threads_help)
    if threshold_help is not None:
        p.add_argument("--threshold", type=threshold_value, help=threshold_help)
        p.add_argument(
            "--label-threshold",
            dest="label_thresholds",
            action="append",
            type=label_threshold_value,
            metavar="LABEL=T",
            help="multi-label files: the threshold of one label (0 to 1), over the file's and --threshold's; "
            "repeat for more labels (e.g. --label-threshold insult=0.3 --label-threshold threat=0.2)",
        )
    if windows:
        _add_window_options(p)
    add_provider_option(p)
    add_spinning_option(p)
    add_self_check_option(p)


def load_options(args: argparse.Namespace) -> LoadOptions:
    """The record `Classifier.load` takes, from the flags `add_load_options` added (absent ones: the defaults)."""
    return LoadOptions(
        threads=args.threads,
        long_text=getattr(args, "long_text", None),
        window_stride=getattr(args, "window_stride", None),
        window_aggregate=getattr(args, "window_aggregate", None),
        max_windows=getattr(args, "max_windows", None),
        providers=providers(args),
        threshold=getattr(args, "threshold", None),
        spinning=spinning(args),
        self_check=args.self_check,
        thresholds=_label_thresholds(getattr(args, "label_thresholds", None)),
    )


def label_threshold_value(text: str) -> tuple[str, float]:
    """An argparse type: ``LABEL=T``, T a number from 0 to 1 (the label is checked against the file at load)."""
    name, sep, value = text.rpartition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"must be LABEL=THRESHOLD (e.g. insult=0.3), not {text!r}")
    try:
        return name, check_threshold(float(value), "--label-threshold")
    except (ValueError, UsageError):
        raise argparse.ArgumentTypeError(
            f"{name!r}: the threshold must be a number from 0 to 1, not {value!r}"
        ) from None


def _label_thresholds(pairs: list[tuple[str, float]] | None) -> dict[str, float] | None:
    """``--label-threshold`` pairs as one mapping; a label given twice is a usage error (which one was meant?)."""
    if not pairs:
        return None
    thresholds: dict[str, float] = {}
    for name, value in pairs:
        if name in thresholds:
            raise UsageError(f"--label-threshold names {name!r} twice; give each label's threshold once")
        thresholds[name] = value
    return thresholds


def threshold_value(text: str) -> float:
    """An argparse type: a number from 0 to 1."""
    try:
        return check_threshold(float(text), "--threshold")
    except (ValueError, UsageError):
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, not {text!r}") from None


def _add_window_options(p: argparse._ActionsContainer) -> None:
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


def add_provider_option(p: argparse._ActionsContainer) -> None:
    """``--provider NAME`` (repeatable, in order of preference): onnxruntime's execution providers."""
    p.add_argument(
        "--provider",
        dest="providers",
        action="append",
        metavar="NAME",
        help=f"onnxruntime execution provider; repeat to give a fallback order (default: {DEFAULT_PROVIDERS[0]}; "
        f"available here: {', '.join(ort.get_available_providers())})",
    )


def providers(args: argparse.Namespace) -> tuple[str, ...]:
    """The providers asked for with ``--provider``, or the runtime's default (`Classifier.load` checks them)."""
    return tuple(args.providers or DEFAULT_PROVIDERS)


def add_spinning_option(p: argparse._ActionsContainer) -> None:
    """``--spin/--no-spin``: whether onnxruntime's pool threads busy-wait for work (`Classifier.load(spinning=)`)."""
    p.add_argument(
        "--spin",
        dest="spinning",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="let onnxruntime's pool threads busy-wait for work instead of sleeping; every text classified alone "
        "then runs on all threads. Faster one text at a time on an idle machine (a quarter off the p50 on a 2-core "
        "AMD EPYC), but a core stays busy between requests, and on shared cores it measured slower "
        f"(docs/benchmarks.md) (default: {'--spin' if DEFAULT_SPINNING else '--no-spin'})",
    )


def add_self_check_option(p: argparse._ActionsContainer) -> None:
    """``--no-self-check``: load the file even if this CPU answers its canary texts differently (`self_check=False`)."""
    p.add_argument(
        "--no-self-check",
        dest="self_check",
        action="store_false",
        help="use the model even when this CPU answers its canary texts differently from the machine that "
        "exported it (by default such a file is refused with both CPUs named; `probe-runtime info` shows the check)",
    )


def spinning(args: argparse.Namespace) -> bool:
    """``--spin``/``--no-spin`` as given, or the runtime's default."""
    return DEFAULT_SPINNING if args.spinning is None else bool(args.spinning)
