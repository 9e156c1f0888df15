"""`probe train` and `probe embed`; the top-level `probe` parser (in probe_export) mounts these."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from probe_runtime.atomic import atomic_path
from probe_runtime.cli_support import add_text_column_option
from probe_runtime.errors import UsageError
from probe_runtime.guard import (
    output_lock,
    refuse_existing_output,
    refuse_output_over_inputs,
    refuse_unwritable_output,
)

from .cli_options import (
    add_data_options,
    add_encoder_options,
    at_least,
    cache_from_args,
    flags_shown,
    fraction,
    fraction_or_zero,
    local_encoder,
    positive,
    show_progress,
)
from .decision_options import add_decision_options, decision_settings
from .embeddings import use_fast_attention
from .encoder import check_layer, load_encoder
from .errors import ProbeError
from .layers_cli import add_layers_command, sweep_request
from .multilabel.options import add_multilabel_options, multilabel_job_fields
from .pooling import Pooling
from .requests import Columns, TrainJob
from .settings import FinetuneSettings, Method, ProbeSettings
from .static_encoder import DEFAULT_DIMS
from .static_training import STATIC_LEARNING_RATE, EncoderKind, StaticSpec
from .training_cli import run_train

__all__ = ["add_commands", "is_npy_file", "train_job"]

NPY_MAGIC = b"\x93NUMPY"


def is_npy_file(path: Path) -> bool:
    """What `probe embed` writes, recognised by the .npy magic bytes (not by the name)."""
    try:
        with open(path, "rb") as f:
            return path.is_file() and not path.is_symlink() and f.read(len(NPY_MAGIC)) == NPY_MAGIC
    except OSError:
        return False


def cmd_train(args: argparse.Namespace) -> int:
    with flags_shown():
        return run_train(train_job(args))


def train_job(args: argparse.Namespace) -> TrainJob:
    """The one place `probe train` reads its command line: every option parsed and checked, in one record."""
    auto = args.layer == "auto"
    return TrainJob(
        data=args.data,
        out=Path(args.out),
        settings=_settings(args, layer=-1 if auto else args.layer),
        test=args.test,
        test_size=args.test_size,
        columns=Columns(args.text_column, args.label_column, args.weight_column),
        overwrite=args.overwrite,
        # An explicit --pooling or --normalize/--no-normalize is kept; the sweep chooses the rest.
        sweep=sweep_request(
            args,
            [args.pooling] if args.pooling else list(Pooling.values()),
            [args.normalize] if args.normalize is not None else [False, True],
        )
        if auto
        else None,
        cache=not args.no_cache,
        resume=args.resume,
        encoder_dir=local_encoder(args.model),
        static=_static_spec(args),
        **multilabel_job_fields(args),
    )


def _static_spec(args: argparse.Namespace) -> StaticSpec | None:
    """``--encoder static``'s table, after refusing the options a static table has no use for."""
    if args.encoder != EncoderKind.STATIC.value:
        if args.static_dims is not None:
            raise UsageError("--static-dims is for --encoder static; add --encoder static, or drop --static-dims")
        return None
    pointless = {
        "--layer": args.layer != -1,  # the table is distilled from the last layer; nothing else to read
        "--pooling": args.pooling is not None,  # a static table pools by its SIF-weighted mean
        "--resume": args.resume,  # fine-tuning a table takes seconds: no checkpoints to resume from
        "--weight-column (with --method finetune)": args.weight_column is not None and args.method != "probe",
    }
    for flag, given in pointless.items():
        if given:
            raise UsageError(f"{flag} does not apply to --encoder static; drop {flag.split()[0]}")
    return StaticSpec(dims=args.static_dims or DEFAULT_DIMS)


def _settings(args: argparse.Namespace, layer: int) -> ProbeSettings:
    common = {
        "model": args.model,
        "pooling": args.pooling or Pooling.MEAN.value,
        "layer": layer,
        "max_length": args.max_length,
        "seed": args.seed,
        "normalize": args.normalize,  # None (neither flag): the probe chooses by cross-validation
        **decision_settings(args),
    }
    static = args.encoder == EncoderKind.STATIC.value
    if args.method == "probe":
        return ProbeSettings(**common, batch_size=args.batch_size or ProbeSettings.batch_size)
    return FinetuneSettings(
        **common,
        batch_size=args.batch_size or FinetuneSettings.batch_size,
        epochs=args.epochs,
        learning_rate=args.learning_rate or (STATIC_LEARNING_RATE if static else FinetuneSettings.learning_rate),
        validation_size=args.validation_size,
        patience=args.patience,
        checkpoint_every=args.checkpoint_every,
    )


def cmd_embed(args: argparse.Namespace) -> int:
    with flags_shown():
        return _guarded_embed(args)


def _guarded_embed(args: argparse.Namespace) -> int:
    out = Path(args.out)
    refuse_output_over_inputs(out, {"data": args.data, "encoder": local_encoder(args.model)})
    refuse_unwritable_output(out)
    refuse_existing_output(out, overwrite=args.overwrite, is_own_kind=is_npy_file, kind=".npy file")
    with output_lock(out):
        return _embed(args, out)


def _embed(args: argparse.Namespace, out: Path) -> int:
    from probe_runtime.files import read_rows

    from .embeddings import embed_texts

    texts = [row.text for row in read_rows(args.data, args.text_column)]
    if not texts:
        raise ProbeError(f"{args.data} holds no texts")
    if args.layer == "auto":
        raise UsageError("--layer auto is for `probe train`; `probe layers DATA` shows the recommendation")
    encoder = load_encoder(args.model, args.max_length)
    check_layer(encoder, args.layer)
    use_fast_attention(encoder)
    pooling = args.pooling or Pooling.MEAN.value
    vectors = embed_texts(
        encoder,
        texts,
        pooling,
        args.layer,
        args.batch_size,
        show_progress(),
        normalize=bool(args.normalize),
        cache=cache_from_args(args),
    )
    # Re-checked now: another run may have written `out` while this one embedded.
    refuse_existing_output(out, overwrite=args.overwrite, is_own_kind=is_npy_file, kind=".npy file")
    with atomic_path(out) as tmp, open(tmp, "wb") as f:  # a file object: np.save would append ".npy"
        np.save(f, vectors)
    print(
        json.dumps(
            {
                "out": str(out),
                "shape": list(vectors.shape),
                "encoder": encoder.name,
                "pooling": pooling,
                "layer": args.layer,
                "normalize": bool(args.normalize),
            }
        )
    )
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """`train`, `layers` and `embed`, mounted on the `probe` command's subparsers."""
    _add_train_command(sub)
    add_layers_command(sub)
    _add_embed_command(sub)


def _add_train_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a classifier on labelled texts",
        description="Train a text classifier on a labelled CSV/TSV/JSONL file and report accuracy, macro-F1, "
        "per-class precision/recall and the confusion matrix on held-out data. The probe method freezes the "
        "encoder and fits a logistic regression (C chosen by stratified cross-validation) on its embeddings.",
    )
    p.add_argument("data", help="labelled training data (.csv, .tsv or .jsonl)")
    p.add_argument("--out", "-o", required=True, help="directory to write the trained model to")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out if it is a model directory from an earlier `probe train` (never anything else)",
    )
    p.add_argument("--test", help="separate labelled test file; default: hold out --test-size of DATA")
    p.add_argument("--test-size", type=fraction, default=0.2, help="held-out fraction without --test (default 0.2)")
    p.add_argument(
        "--method",
        choices=Method.values(),
        default="probe",
        help="probe: frozen encoder + logistic regression (default); finetune: train encoder and head end to end",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for the splits, the probe and fine-tuning (default 0)")
    add_data_options(p)
    p.add_argument(
        "--weight-column",
        default=None,
        metavar="COLUMN",
        help="column/field of DATA with a training weight per row (a number >= 0; 1 = normal, 2 = counts as two "
        "copies, 0 = left out of the fit): weighs the probe's and fine-tuning's loss, not the figures, which count "
        "every held-out text once (default: every row weighs 1)",
    )
    add_encoder_options(p)
    _add_static_options(p)
    add_decision_options(p)
    add_multilabel_options(p)
    p.set_defaults(func=cmd_train, batch_size=None)
    _add_finetune_options(p)


def _add_static_options(p: argparse.ArgumentParser) -> None:
    st = p.add_argument_group(
        "edge tier (--encoder static)",
        "A static table distilled from --model: each vocabulary token's output of the whole encoder, PCA-rotated and "
        "weighted by frequency (SIF); a text is the weighted mean of its tokens' rows: no attention at run time. "
        "Distilling runs the encoder once per token (MiniLM: minutes); the table is cached (see --no-cache).",
    )
    st.add_argument(
        "--encoder",
        choices=EncoderKind.values(),
        default=EncoderKind.TRANSFORMER.value,
        help="transformer (default): the encoder itself; static: the table distilled from it (the edge tier)",
    )
    st.add_argument(
        "--static-dims",
        type=at_least(1),
        default=None,
        metavar="N",
        help=f"dimensions the static table keeps (default {DEFAULT_DIMS}; at most the encoder's hidden size)",
    )


def _add_finetune_options(p: argparse.ArgumentParser) -> None:
    ft = p.add_argument_group(
        "fine-tuning (--method finetune)",
        "AdamW with linear warm-up and decay, gradient clipping, early stopping on a validation split "
        "held out of DATA (never --test) with the best epoch restored. Checkpoints go to OUT.checkpoint/ "
        "and are removed once training succeeds.",
    )
    d = FinetuneSettings
    ft.add_argument(
        "--epochs",
        type=at_least(1),
        default=d.epochs,
        help=f"at most this many passes over the data (default {d.epochs})",
    )
    ft.add_argument(
        "--learning-rate",
        type=positive,
        default=None,
        help=f"peak AdamW learning rate (default {d.learning_rate:g}; {STATIC_LEARNING_RATE:g} with --encoder static)",
    )
    ft.add_argument(
        "--validation-size",
        type=fraction_or_zero,
        default=d.validation_size,
        help=f"fraction of DATA held out for early stopping (default {d.validation_size}; 0: no early stopping)",
    )
    ft.add_argument(
        "--patience",
        type=at_least(1),
        default=d.patience,
        help=f"epochs without improvement before stopping (default {d.patience})",
    )
    ft.add_argument(
        "--checkpoint-every",
        type=at_least(0),
        default=d.checkpoint_every,
        help=f"also checkpoint every N steps (default {d.checkpoint_every}; 0: epochs only)",
    )
    ft.add_argument("--resume", action="store_true", help="continue an interrupted run from OUT.checkpoint/")


def _add_embed_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "embed",
        help="write frozen-encoder embeddings to a .npy file",
        description="Embed every text (one row per text, in input order) for your own analysis.",
    )
    p.add_argument("data", help="texts: plain text (one per line), .csv, .tsv or .jsonl")
    p.add_argument("--out", "-o", required=True, help="the .npy file to write")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it is a .npy file (never anything else)")
    add_text_column_option(p)
    add_encoder_options(p)
    p.set_defaults(func=cmd_embed)
