"""What a catalogue case is, and how one is run (in-process, output captured, nothing mocked)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Context:
    """What a case may use: a fresh directory of its own and the session's real tiny models and data."""

    tmp: Path
    encoder: Path  # tiny BERT directory (a Hugging Face model folder)
    trained: Path  # `probe train` output directory (do not modify: shared by the session)
    model: Path  # int8 artifact (do not modify: copy it first)
    fp32_model: Path
    train_csv: Path
    test_csv: Path


@dataclass(frozen=True)
class Outcome:
    """What the user saw: the exit code (None for a Python API call), stderr's text, or the exception."""

    exit_code: int | None
    message: str
    error_type: str = ""
    stdout: str = ""


@dataclass(frozen=True)
class Case:
    """One user mistake. ``run`` builds whatever it needs under ``ctx.tmp`` and returns what the user saw."""

    id: str
    area: str  # train | embed | export | classify | info | bench | serve | api
    mistake: str  # what the user did, in plain words
    run: Callable[[Context], Outcome]
    expect: str  # a substring the one-line message must contain
    exit_code: int | None = 1  # 1 failure, 2 usage error; None: the Python API raises
    check: Callable[[Context], None] | None = None  # extra assertion afterwards (e.g. nothing was written)


def run_cli(main: Callable[[Sequence[str]], int], argv: Sequence[str]) -> Outcome:
    """Call a CLI's ``main(argv)`` as a user would, capturing what it prints; argparse exits become codes."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse usage errors and --help
            code = exc.code if isinstance(exc.code, int) else 1
    return Outcome(code, err.getvalue().strip(), stdout=out.getvalue())


def probe(argv: Sequence[str]) -> Outcome:
    from probe_export.cli import main

    return run_cli(main, argv)


def probe_runtime(argv: Sequence[str]) -> Outcome:
    from probe_runtime.cli import main

    return run_cli(main, argv)


def api(call: Callable[[], Any]) -> Outcome:
    """Run a Python API call; a ProbeError is the expected way to refuse, anything else is a defect."""
    from probe_runtime import ProbeError

    try:
        call()
    except ProbeError as exc:
        return Outcome(None, str(exc), type(exc).__name__)
    return Outcome(None, "", "no error")
