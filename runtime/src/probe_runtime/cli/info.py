"""`probe-runtime info`: what an artifact carries, printed for humans or as JSON (`probe_runtime.info` builds it),
or its model card (``--card`` prints it, ``--card-out FILE`` writes it)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import info
from ..artifact import CARD_MARKER
from ..atomic import atomic_path
from ..classifier import Classifier
from ..errors import ArtifactError
from ..guard import output_lock, refuse_existing_output, refuse_output_over_inputs, refuse_unwritable_output

__all__ = ["add_command", "cmd_info", "is_card_file"]

CARD_KIND = "model card (Markdown)"


def is_card_file(path: Path) -> bool:
    """A card written before (by `--card-out` or `probe report`): a text file with the card's marker line near its
    top. Anything else, a user's README included, is never replaced."""
    if not path.is_file() or path.is_symlink():
        return False
    try:
        with open(path, encoding="utf-8") as f:
            return CARD_MARKER in f.read(64_000)
    except (OSError, UnicodeDecodeError):
        return False


def _card(args: argparse.Namespace, clf: Classifier) -> str:
    card = clf.manifest.card
    if card is None:
        raise ArtifactError(
            f"{args.model} carries no model card (exported by an earlier probe); re-export it, or write one "
            f"from what it stores with `probe report {args.model}`"
        )
    return card


def _write_card(args: argparse.Namespace, card: str) -> None:
    out = Path(args.card_out)
    with output_lock(out, flag="--card-out"), atomic_path(out) as tmp:
        tmp.write_text(card, encoding="utf-8")
    print(f"wrote the model card of {args.model} to {out}")


def cmd_info(args: argparse.Namespace) -> int:
    if args.card_out:  # before loading: a refusal costs nothing
        refuse_output_over_inputs(args.card_out, {"model": args.model}, flag="--card-out")
        refuse_unwritable_output(args.card_out, flag="--card-out")
        refuse_existing_output(
            args.card_out, overwrite=args.overwrite, is_own_kind=is_card_file, kind=CARD_KIND, flag="--card-out"
        )
    clf = Classifier.load(args.model, self_check=False)  # info shows the check (below) rather than refusing
    if args.card_out:
        _write_card(args, _card(args, clf))
    elif args.card:
        print(_card(args, clf), end="")
    elif args.json:
        print(json.dumps(info.as_json(args.model, clf, info.self_check(clf)), indent=2, ensure_ascii=False))
    else:
        print("\n".join(info.describe(args.model, clf, info.self_check(clf))))
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="show what an artifact carries",
        description="Show labels, encoder, "
        "settings, training metrics and export verification figures stored in an artifact, or its model card.",
    )
    p.add_argument("model", help="the .onnx artifact")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--card", action="store_true", help="print the model card (Markdown) stored in the artifact")
    p.add_argument("--card-out", metavar="FILE", help="write the model card to FILE (atomically)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --card-out if it is a model card written before (never any other file)",
    )
    p.set_defaults(func=cmd_info)
