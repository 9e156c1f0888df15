"""`probe-runtime`: classify files, benchmark and inspect artifacts from the command line.

The command line is this package, apart from the library it drives: everything that parses arguments,
prints, draws progress bars or picks exit codes lives here, and the modules it calls
(`probe_runtime.classify_files`, `probe_runtime.bench`, `probe_runtime.info`, `probe_runtime.serve`) return
typed results or, for the server, log.
``main(argv) -> int`` is the testable entry point; exit codes, one-line errors, ``-v``, ``--version`` and
closed pipes are handled the same way as in `probe` (`probe_runtime.cli_support`). Each command lives in
its own module and registers itself here with ``add_command(sub)``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from ..cli_support import OneLineParser, add_global_options, run_cli
from . import bench, classify, info, serve

__all__ = ["build_parser", "main", "run"]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="probe-runtime",
        description="Run probe text classifiers (one .onnx file) without PyTorch.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (classify, info, bench, serve):
        command.add_command(sub)
    add_global_options(parser, sub, version=f"probe-runtime {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("probe-runtime", build_parser(), argv)


def run() -> None:
    sys.exit(main())
