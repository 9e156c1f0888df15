"""The one way benchmarks and studies read and write labelled CSV files: through the training library's reader.

Reading goes through `probe_train.data.load_dataset` (itself on `probe_runtime.files.read_rows`), so a dataset
means to a benchmark exactly what it means to `probe train`: the same rows, texts, labels and errors. Call
`load_dataset` directly for a labelled `Dataset`; this module adds only what the benchmarks need beyond it:
the texts alone (`texts`), a file of some of a dataset's rows for `probe train` to read (`write`, `subsample`),
and every column of a table as strings (`records`, `write_records`: the prompt-injection sets' ``source``,
``family``, ``position``… columns), read by the same runtime reader with its ``raw_columns``.
`write` files hold the two columns `probe train` reads, ``text`` and ``label``; every file appears atomically.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from probe_runtime.atomic import atomic_path
from probe_runtime.files import read_rows, table_columns
from probe_train.data import Dataset, load_dataset

__all__ = ["records", "subsample", "texts", "write", "write_records"]


def texts(path: str | Path) -> list[str]:
    """Every text of a labelled file, in file order: the labels are read too (one class is enough) and dropped."""
    return load_dataset(path, min_classes=1).texts


def write(path: Path, data: Dataset, rows: Sequence[int] | np.ndarray | None = None) -> Path:
    """``data``'s rows (all, or ``rows`` in the order given) as a ``text,label`` CSV at ``path``, with each
    row's label as the file it came from spelled it; the file appears whole or not at all."""
    index = range(len(data)) if rows is None else [int(i) for i in rows]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows((data.texts[i], data.labels[int(data.y[i])]) for i in index)
    return path


def subsample(src: Path, dst: Path, n: int) -> Path:
    """A seeded subset of ``n`` rows of a training file, in file order (SST-2's 67,349 phrases would take too
    long on 2 shared cores): the rows of ``default_rng(0).permutation(rows)[:n]``, so every run picks the same."""
    data = load_dataset(src, min_classes=1)
    return write(dst, data, sorted(np.random.default_rng(0).permutation(len(data))[:n]))


def records(path: str | Path) -> list[dict[str, str]]:
    """Every row of a CSV/TSV file as ``{column: cell}`` in header order, cells as the file spells them."""
    others = [name for name in table_columns(str(path)) if name != "text"]
    rows = read_rows(str(path), raw_columns=[(name, f"the {name!r} column") for name in others])
    return [{"text": row.text, **dict(zip(others, map(str, row.raw), strict=True))} for row in rows]


def write_records(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    """``rows`` (as `records` gives them: one set of columns, the first row's order) as a CSV at ``path``,
    which appears whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path
