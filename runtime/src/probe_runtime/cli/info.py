"""`probe-runtime info`: what an artifact carries, printed for humans or as JSON (`probe_runtime.info` builds it)."""

from __future__ import annotations

import argparse
import json

from .. import info
from ..classifier import Classifier

__all__ = ["add_command", "cmd_info"]


def cmd_info(args: argparse.Namespace) -> int:
    clf = Classifier.load(args.model)
    if args.json:
        print(json.dumps(info.as_json(args.model, clf), indent=2, ensure_ascii=False))
    else:
        print("\n".join(info.describe(args.model, clf)))
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="show what an artifact carries",
        description="Show labels, encoder, "
        "settings, training metrics and export verification figures stored in an artifact.",
    )
    p.add_argument("model", help="the .onnx artifact")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)
