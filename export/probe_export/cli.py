"""`probe`: the one command over both layers, its subcommands mounted from each (train's `train`, `embed`,
`layers`; export's `export`, `report`). ``main(argv) -> int`` is what tests call.

It lives in export's package because export is the top of the library (runtime <- train <- export): the
only layer that may import both sides. Each layer owns its subcommands' parsers and handlers
(`probe_train.cli`, `probe_export.export_cli`); this module only assembles them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from probe_runtime.cli_support import OneLineParser, add_global_options, run_cli
from probe_train.cli import add_commands as add_train_commands

from . import __version__
from .export_cli import add_commands as add_export_commands

__all__ = ["main", "run"]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="probe",
        description="Turn a pretrained transformer encoder into a small, fast text classifier: "
        "train, then export ONE int8 .onnx file that `probe-runtime` runs without PyTorch.",
        epilog="example: probe train data/prompt_injections/train.csv --test data/prompt_injections/test.csv "
        "--out artifacts/pi && probe export artifacts/pi --out artifacts/pi.onnx",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_commands(sub)
    add_export_commands(sub)
    add_global_options(parser, sub, version=f"probe {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: 0 success, 1 failure, 2 usage error (argparse's own and `UsageError`), 130 interrupted.

    Every error the user can fix is one line on stderr; ``-v`` adds the traceback.
    """
    return run_cli("probe", build_parser(), argv, prepare=_prepare)


def _prepare(args: argparse.Namespace) -> None:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def run() -> None:
    sys.exit(main())
