"""Options that mean the same thing in several `probe-runtime` commands, declared once so they cannot drift."""

from __future__ import annotations

import argparse

import onnxruntime as ort

from ..loader import DEFAULT_PROVIDERS

__all__ = ["add_provider_option", "providers"]


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
