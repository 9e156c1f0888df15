"""`probe-runtime`: classify files, benchmark and inspect artifacts from the command line.

``main(argv) -> int`` is the testable entry point; exit codes, one-line errors, ``-v`` and closed pipes
are handled the same way as in `probe` (`probe_runtime.cli_support`). Each command lives in its own
module and registers itself here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__, bench, classify_files, info
from .cli_support import VERBOSE_HELP, OneLineParser, add_verbose_to_commands, run_cli

__all__ = ["build_parser", "main", "run"]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="probe-runtime",
        description="Run probe text classifiers (one .onnx file) without PyTorch.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (classify_files, info, bench):
        command.add_command(sub)
    add_verbose_to_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("probe-runtime", build_parser(), argv)


def run() -> None:
    sys.exit(main())
