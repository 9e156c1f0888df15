"""`probe-runtime`: classify files, benchmark and inspect artifacts from the command line.

``main(argv) -> int`` is the testable entry point; exit codes are 0 success, 1 failure
(a message, no traceback), 2 usage error (argparse's own convention, and ``UsageError``), 130
interrupted. ``-v``/``--verbose`` (before or after the command) adds the traceback to an error.
A reader that goes away (``probe-runtime info M | head -1``) ends any command quietly. Each command
lives in its own module and registers itself here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Sequence

from . import __version__, bench, classify_files, info
from .errors import ProbeError, UsageError

__all__ = ["build_parser", "main", "run"]

_VERBOSE_HELP = "on an error, also show the traceback"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="probe-runtime",
        description="Run probe text classifiers (one .onnx file) without PyTorch.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help=_VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (classify_files, info, bench):
        command.add_command(sub)
    for command_parser in sub.choices.values():  # `-v` also after the command name
        if "-v" not in command_parser._option_string_actions:
            command_parser.add_argument(
                "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=_VERBOSE_HELP
            )
    return parser


def _quiet_stdout() -> None:
    """Point stdout at /dev/null: the interpreter's final flush would otherwise raise BrokenPipeError again."""
    with contextlib.suppress(OSError, ValueError):  # stdout is not a real file (e.g. captured in tests)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # inside the try: a closed pipe shows up here, not at exit
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return 1
    except ProbeError as exc:
        if args.verbose:
            traceback.print_exc(file=sys.stderr)
        print(f"probe-runtime: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    except KeyboardInterrupt:
        print("probe-runtime: interrupted; no output was written", file=sys.stderr)
        return 130


def run() -> None:
    sys.exit(main())
