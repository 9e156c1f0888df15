"""Options that mean the same thing in several `probe-runtime` commands, declared once so they cannot drift."""

from __future__ import annotations

import argparse

import onnxruntime as ort

from ..loader import DEFAULT_PROVIDERS, DEFAULT_SPINNING

__all__ = ["add_provider_option", "add_self_check_option", "add_spinning_option", "providers", "spinning"]


def add_provider_option(p: argparse.ArgumentParser) -> None:
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


def add_spinning_option(p: argparse.ArgumentParser) -> None:
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


def add_self_check_option(p: argparse.ArgumentParser) -> None:
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
