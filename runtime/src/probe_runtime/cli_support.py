"""What both command lines (`probe` and `probe-runtime`) share: one-line errors, exit codes, `-v`, pipes.

Written once here (the runtime is the package both CLIs depend on) so the two tools cannot drift:

- exit codes: 0 success, 1 failure, 2 usage error (argparse's own and `UsageError`), 130 interrupted,
  141 when the reader of stdout went away (``probe-runtime info M | head -1``), like a Unix tool killed
  by SIGPIPE, quietly;
- every error the user can fix is ONE line, ``PROG: error: …`` (argparse's usage errors too, with a
  pointer to ``--help`` instead of the usage block); ``-v``/``--verbose``, before or after the command,
  adds the traceback;
- ``--version`` and ``-v`` are accepted before or after the command name (`add_global_options`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn

from .errors import ProbeError, UsageError

__all__ = [
    "VERBOSE_HELP",
    "OneLineParser",
    "add_global_options",
    "add_text_column_option",
    "one_line",
    "positive_int",
    "run_cli",
]

VERBOSE_HELP = "on an error, also show the traceback (and log what happens)"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the option and the fix), like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_global_options(parser: argparse.ArgumentParser, sub: argparse._SubParsersAction, version: str) -> None:
    """``--version`` (printing ``version``) and ``-v``/``--verbose`` on the tool and on each of its commands.

    Call it once every command is added. argparse hands everything after the command name to the command's
    own parser, so a global option must be declared there too to be accepted after it; the command's
    ``-v`` defaults to SUPPRESS, so ``-v`` given before the command name is not reset by the command.
    """
    parser.add_argument("--version", action="version", version=version)
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    for command in sub.choices.values():
        command.add_argument("--version", action="version", version=version, help=argparse.SUPPRESS)
        if "-v" not in command._option_string_actions:
            command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)


def add_text_column_option(p: argparse.ArgumentParser) -> None:
    """``--text-column`` / ``--text-field``: one option under both names (CSV has columns, JSONL fields), the
    same in every command that reads texts: `probe train`/`embed`, `probe-runtime classify`/`bench`."""
    p.add_argument(
        "--text-column",
        "--text-field",
        dest="text_column",
        default="text",
        help="CSV/TSV column or JSONL field holding the text (default: text)",
    )


def positive_int(value: str) -> int:
    """argparse type for counts that must be at least 1 (threads, rows per window, repetitions)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def one_line(text: object) -> str:
    """A library's multi-line message joined, so the user sees all of it on one line."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _fail(prog: str, exc: BaseException, verbose: bool, message: str, code: int) -> int:
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"{prog}: error: {one_line(message)}", file=sys.stderr)
    return code


def _quiet_broken_pipe() -> int:
    """stdout's reader went away: point stdout at /dev/null so Python's final flush does not raise again."""
    with contextlib.suppress(OSError, ValueError):  # stdout is not a real file (captured in tests)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 141  # 128 + SIGPIPE, what a shell reports for a tool ended by a closed pipe


def run_cli(
    prog: str,
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    prepare: Callable[[argparse.Namespace], None] | None = None,
) -> int:
    """Parse ``argv``, run the chosen command (``args.func(args) -> int``) and turn what it raises into
    the exit codes and one-line messages above. ``prepare`` runs first (logging set-up, say)."""
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help/--version (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    verbose = bool(getattr(args, "verbose", False))
    try:
        if prepare is not None:
            prepare(args)
        code = args.func(args)
        sys.stdout.flush()  # inside the try: a closed pipe shows up here, not at exit
        return code
    except UsageError as exc:
        return _fail(prog, exc, verbose, str(exc), 2)
    except ProbeError as exc:
        return _fail(prog, exc, verbose, str(exc), 1)
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except OSError as exc:
        # The machine refused (disk full, permission changed mid-run): the OS's words and the file suffice.
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(prog, exc, verbose, f"{exc.strerror or exc}{where}", 1)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
