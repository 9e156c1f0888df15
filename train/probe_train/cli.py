"""`probe train` and `probe embed`; the top-level `probe` parser (in probe_export) mounts these."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
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
from tqdm.auto import tqdm

from .checkpoint import checkpoint_dir_for, refuse_foreign_checkpoint_dir, remove_checkpoints
from .cli_options import (
    add_data_options,
    add_encoder_options,
    at_least,
    cache_from_args,
    fraction,
    fraction_or_zero,
    local_encoder,
    positive,
    show_progress,
)
from .data import align_labels, holdout_split, load_dataset, weight_summary
from .decision_options import add_decision_options, decision_settings, format_decisions
from .embeddings import use_fast_attention
from .encoder import check_layer, load_encoder
from .errors import ProbeError
from .finetune_records import EpochResult
from .layers_cli import add_layers_command, auto_layer
from .metrics import format_report
from .model_dir import KIND, TrainedModel, is_trained_model_dir, save_trained
from .pooling import Pooling
from .records import RunSettings
from .settings import FinetuneSettings, Method, ProbeSettings
from .training import TrainRequest, train

__all__ = ["add_commands", "is_npy_file"]

NPY_MAGIC = b"\x93NUMPY"


def is_npy_file(path: Path) -> bool:
    """What `probe embed` writes, recognised by the .npy magic bytes (not by the name)."""
    try:
        with open(path, "rb") as f:
            return path.is_file() and not path.is_symlink() and f.read(len(NPY_MAGIC)) == NPY_MAGIC
    except OSError:
        return False


def _guard_train_output(args: argparse.Namespace) -> Path:
    """Every check on --out, before any data is read or any model loaded: nothing of the user's is at risk."""
    out = Path(args.out)
    inputs = {"training data": args.data, "test data": args.test, "encoder": local_encoder(args.model)}
    refuse_output_over_inputs(out, inputs)
    refuse_unwritable_output(out)
    refuse_existing_output(out, overwrite=args.overwrite, is_own_kind=is_trained_model_dir, kind=KIND)
    if args.method == "finetune":
        checkpoints = checkpoint_dir_for(out)
        refuse_output_over_inputs(checkpoints, inputs, flag="the checkpoint directory")
        refuse_foreign_checkpoint_dir(checkpoints)
    return out


def cmd_train(args: argparse.Namespace) -> int:
    out = _guard_train_output(args)
    with output_lock(out):
        return _train(args)


def _settings(args: argparse.Namespace) -> ProbeSettings:
    common = {
        "model": args.model,
        "pooling": args.pooling or Pooling.MEAN.value,
        "layer": args.layer,
        "max_length": args.max_length,
        "seed": args.seed,
        "normalize": args.normalize,  # None (neither flag): the probe chooses by cross-validation
        **decision_settings(args),
    }
    if args.method == "probe":
        return ProbeSettings(**common, batch_size=args.batch_size or ProbeSettings.batch_size)
    return FinetuneSettings(
        **common,
        batch_size=args.batch_size or FinetuneSettings.batch_size,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        validation_size=args.validation_size,
        patience=args.patience,
        checkpoint_every=args.checkpoint_every,
    )


def _train(args: argparse.Namespace) -> int:
    data = load_dataset(args.data, args.text_column, args.label_column, weight_column=args.weight_column)
    if args.test:
        train_data = data
        test = align_labels(load_dataset(args.test, args.text_column, args.label_column, 1), data.labels)
    else:
        train_data, test = holdout_split(data, args.test_size, args.seed)
    if args.layer == "auto":
        chosen = auto_layer(args, train_data)
        # Neither --normalize nor --no-normalize: left to the training's own cross-validated choice, the same
        # rule on the same folds as the sweep's (so the same answer), recorded with both CV accuracies.
        args.layer, args.pooling = chosen.layer, chosen.pooling
    # Loaded (and --max-length/--layer checked against it) before the first progress line, so a bad
    # encoder or option is the one line the user sees.
    encoder = load_encoder(args.model, args.max_length)
    check_layer(encoder, args.layer)
    weighted = ""
    if train_data.weights is not None:
        facts = weight_summary(train_data.weights)
        weighted = f", weighted by column {args.weight_column!r} (total {facts['sum']:g}, {facts['zero']} at 0)"
    print(
        f"training ({args.method}) on {len(train_data)} examples ({len(train_data.labels)} labels: "
        f"{train_data.labels}){weighted}; evaluating on {len(test)} from {test.source}",
        file=sys.stderr,
    )
    request = TrainRequest(train_data, encoder, _settings(args), test=test, show_progress=show_progress())
    if args.method == "finetune":
        trained = _finetune(args, request)
    else:
        with tqdm(
            desc="choosing C by cross-validation", unit=" folds", disable=not show_progress(), leave=False
        ) as bar:

            def on_fold(done: int, total: int) -> None:
                bar.total = total
                bar.update(1)

            trained = train(replace(request, cache=cache_from_args(args), on_fold=on_fold))
    if args.method == "probe":
        print(_normalisation_line(trained.settings), file=sys.stderr)
    out = save_trained(trained, args.out, encoder=encoder, overwrite=args.overwrite)
    if args.method == "finetune":
        remove_checkpoints(checkpoint_dir_for(args.out))
    print(format_report(trained.report, f"held-out evaluation ({test.source})"))
    decisions = format_decisions(trained.report, out)
    if decisions:
        print(decisions)
    print(
        f"\nsaved the trained model to {out}/ (report: {out}/report.json); "
        f"next: probe export {out} --out {Path(out).with_suffix('.onnx')}"
    )
    return 0


def _normalisation_line(recorded: RunSettings) -> str:
    """How the probe's L2 normalisation was decided, in one line (the report records the same)."""
    line = f"L2 normalisation: {'yes' if recorded.normalize else 'no'}"
    raw, l2 = recorded.cv_accuracy_raw, recorded.cv_accuracy_l2
    if recorded.normalize_chosen_by == "cross-validation" and raw is not None and l2 is not None:
        return f"{line} (chosen by 5-fold CV accuracy on the training data: raw {100 * raw:.2f} %, L2 {100 * l2:.2f} %)"
    return f"{line} (as set)"


def _print_epoch(result: EpochResult) -> None:
    """One line per epoch on stderr, so progress shows even when stderr is a log file, not a TTY."""
    line = f"epoch {result.epoch}/{result.epochs}: train loss {result.train_loss:.4f}"
    if result.validation is not None:
        v = result.validation
        line += f", validation loss {v.loss:.4f} accuracy {v.accuracy:.4f} macro-F1 {v.macro_f1:.4f}"
        line += " (best so far)" if result.improved else f" (best: epoch {result.best_epoch})"
    line += f"; {result.seconds:.0f} s"
    if result.stopping:
        line += "; no improvement for --patience epochs: stopping early"
    elif result.epoch < result.epochs:
        line += f", about {result.eta_seconds / 60:.1f} min left"
    print(line, file=sys.stderr, flush=True)


def _finetune(args: argparse.Namespace, request: TrainRequest) -> TrainedModel:
    """`train` with the checkpoint directory, per-epoch lines, and what to do after an interruption."""
    checkpoints = checkpoint_dir_for(args.out)
    if args.resume:
        print(f"resuming from the checkpoint in {checkpoints}/", file=sys.stderr)
    elif checkpoints.exists():
        print(
            f"note: starting over; this replaces the checkpoint in {checkpoints}/ (--resume continues it)",
            file=sys.stderr,
        )
    try:
        return train(replace(request, checkpoint_dir=checkpoints, resume=args.resume, on_epoch=_print_epoch))
    except KeyboardInterrupt:
        if checkpoints.is_dir():
            print(f"the same command with --resume continues from the checkpoint in {checkpoints}/", file=sys.stderr)
        raise


def cmd_embed(args: argparse.Namespace) -> int:
    out = Path(args.out)
    refuse_output_over_inputs(out, {"data": args.data, "encoder": local_encoder(args.model)})
    refuse_unwritable_output(out)
    refuse_existing_output(out, overwrite=args.overwrite, is_own_kind=is_npy_file, kind=".npy file")
    with output_lock(out):
        return _embed(args, out)


def _embed(args: argparse.Namespace, out: Path) -> int:
    from probe_runtime.files import read_rows

    from .embeddings import embed_texts
    from .encoder import load_encoder

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
    add_decision_options(p)
    p.set_defaults(func=cmd_train, batch_size=None)
    _add_finetune_options(p)


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
        default=d.learning_rate,
        help=f"peak AdamW learning rate (default {d.learning_rate:g})",
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
