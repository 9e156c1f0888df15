"""`probe-runtime classify`: label every text of one or more files, streaming, nothing lost."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path

from tqdm import tqdm

from .classifier import Classifier
from .errors import ProbeError
from .files import Row, RowWriter, atomic_output, detect_format, read_rows

__all__ = ["add_command", "cmd_classify"]

WINDOW_ROWS = 4096


def _progress_enabled() -> bool:
    return sys.stderr.isatty()


def _windows(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while window := list(islice(rows, size)):
        yield window


def _all_rows(inputs: Sequence[str], text_column: str, id_column: str | None) -> Iterator[Row]:
    for path in inputs:
        for row in read_rows(path, text_column, id_column):
            yield Row(row.id if len(inputs) == 1 else f"{path}:{row.id}", row.text)


def cmd_classify(args: argparse.Namespace) -> int:
    outputs = [args.out] if args.out and args.out != "-" else []
    for path in outputs:
        if any(inp != "-" and Path(inp).resolve() == Path(path).resolve() for inp in args.inputs):
            raise ProbeError(f"refusing to overwrite the input {path}; choose another --out")
    clf = Classifier.load(args.model, threads=args.threads)
    fmt = args.format or (detect_format(args.out) if args.out and args.out != "-" else "jsonl")
    if fmt == "text":
        fmt = "jsonl"
    columns = ["id", "label", "score"] + ([f"score_{lab}" for lab in clf.labels] if args.all_scores else [])
    counts: Counter = Counter()
    read = skipped = 0
    with (
        atomic_output(args.out) as stream,
        tqdm(unit=" texts", disable=not _progress_enabled(), desc="classifying") as bar,
    ):
        writer = RowWriter(stream, fmt, columns)
        for window in _windows(_all_rows(args.inputs, args.text_column, args.id_column), WINDOW_ROWS):
            read += len(window)
            keep = [row for row in window if row.text.strip()]
            skipped += len(window) - len(keep)
            for row, prediction in zip(keep, clf.classify([r.text for r in keep])):
                record = {"id": row.id, "label": prediction.label, "score": round(prediction.score, 6)}
                if args.all_scores:
                    record.update({f"score_{k}": round(v, 6) for k, v in prediction.scores.items()})
                writer.write(record)
                counts[prediction.label] += 1
            bar.update(len(window))
    distribution = ", ".join(f"{label}: {counts[label]}" for label in clf.labels)
    print(
        f"read {read} rows, classified {read - skipped}, skipped {skipped} empty; {distribution}",
        file=sys.stderr,
    )
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "classify",
        help="classify every text in files",
        description="Classify each line of a text file, or a column of a CSV/TSV/JSONL file, and write "
        "one prediction per row (id, label, score) as JSONL or CSV.",
    )
    p.add_argument("model", help="the .onnx artifact written by `probe export`")
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="text (one item per line), .csv, .tsv or .jsonl; - for stdin"
    )
    p.add_argument("-o", "--out", help="output file (.jsonl or .csv); default stdout")
    p.add_argument("--format", choices=["jsonl", "csv", "tsv"], help="output format (default: from --out, else jsonl)")
    p.add_argument(
        "--text-column", "--text-field", default="text", help="column/field holding the text (default: text)"
    )
    p.add_argument("--id-column", help="column/field to use as the row id (default: row or line number)")
    p.add_argument("--all-scores", action="store_true", help="also write every class's probability")
    p.add_argument("--threads", type=int, help="onnxruntime intra-op threads (default: all cores)")
    p.set_defaults(func=cmd_classify)
