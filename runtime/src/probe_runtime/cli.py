"""`probe-runtime`: classify files, benchmark and inspect artifacts from the command line.

``main(argv) -> int`` is the testable entry point; exit codes are 0 success, 1 failure
(a message, no traceback), 2 usage error (argparse's own convention). Each command lives in its own
module and registers itself here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import bench, classify_files, info
from .errors import ProbeError

__all__ = ["build_parser", "main", "run"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="probe-runtime",
        description="Run probe text classifiers (one .onnx file) without PyTorch.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (classify_files, info, bench):
        command.add_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ProbeError as exc:
        print(f"probe-runtime: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("probe-runtime: interrupted; no output was written", file=sys.stderr)
        return 130


def run() -> None:
    sys.exit(main())
