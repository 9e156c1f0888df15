"""Labelled datasets: read CSV/TSV/JSONL, check them, fix a stable label order, split them.

Every check raises `DataError` with the file, the row and what to do, because a traceback for a
typo in a column name is the worst first experience a tool can give.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from .errors import DataError

__all__ = ["Dataset", "align_labels", "holdout_split", "load_dataset"]

Label = str | int
_INT = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True)
class Dataset:
    """Texts with integer targets into ``labels`` (the stable, recorded label order)."""

    texts: list[str]
    y: np.ndarray
    labels: list[Label]
    source: str

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: Sequence[int] | np.ndarray, source: str) -> Dataset:
        return Dataset([self.texts[i] for i in index], self.y[np.asarray(index)], self.labels, source)

    def label_values(self) -> list[Label]:
        return [self.labels[i] for i in self.y]


def _read_records(path: Path, text_column: str, label_column: str) -> list[tuple[int, str, object]]:
    """(line number, text, raw label) per record."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"data file not found: {path}") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a directory; give a .csv, .tsv or .jsonl file") from None
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}, line {line}: bytes that are not UTF-8. Re-save the file as UTF-8.") from None
    if not content.strip():
        raise DataError(f"{path} is empty: expected a header row and labelled examples")

    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        records = []
        for number, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}, line {number}: not valid JSON ({exc.msg}); one object per line") from None
            if not isinstance(item, dict):
                raise DataError(f"{path}, line {number}: expected a JSON object, got {type(item).__name__}")
            for column in (text_column, label_column):
                if column not in item:
                    raise DataError(
                        f"{path}, line {number}: no field {column!r} (fields: {sorted(item)}). "
                        f"Name the right one with --{'text' if column == text_column else 'label'}-column."
                    )
            records.append((number, item[text_column], item[label_column]))
        return records
    if suffix not in (".csv", ".tsv", ".txt"):
        raise DataError(f"{path}: unsupported file type {suffix!r}; use .csv, .tsv or .jsonl")
    reader = csv.reader(content.splitlines(keepends=True), delimiter="\t" if suffix == ".tsv" else ",")
    header = next(reader)
    for column, flag in ((text_column, "text"), (label_column, "label")):
        if column not in header:
            raise DataError(
                f"{path}: no column {column!r} in the header {header}. Name the right one with --{flag}-column."
            )
    t, lab = header.index(text_column), header.index(label_column)
    records = []
    for row in reader:
        if not row:
            continue
        if len(row) <= max(t, lab):
            raise DataError(f"{path}, line {reader.line_num}: {len(row)} fields, but the header has {len(header)}")
        records.append((reader.line_num, row[t], row[lab]))
    return records


def load_dataset(
    path: str | Path, text_column: str = "text", label_column: str = "label", min_classes: int = 2
) -> Dataset:
    """Read and check a labelled file; labels that all look like integers become integers.

    Training data needs two classes; an evaluation file (``min_classes=1``) may hold only one.
    """
    path = Path(path)
    records = _read_records(path, text_column, label_column)
    if not records:
        raise DataError(f"{path} has a header but no examples")
    texts, raw_labels = [], []
    for line, text, label in records:
        if not isinstance(text, str) or not text.strip():
            raise DataError(
                f"{path}, line {line}: the text is empty. Remove the row or fill in its {text_column!r} value."
            )
        if label is None or (isinstance(label, str) and not label.strip()):
            raise DataError(f"{path}, line {line}: the label is empty. Every example needs a label.")
        if not isinstance(label, str | int) or isinstance(label, bool):
            raise DataError(f"{path}, line {line}: label {label!r} must be a string or an integer")
        texts.append(text)
        raw_labels.append(label.strip() if isinstance(label, str) else label)
    labels_in_file = _normalise_labels(raw_labels)
    labels = sorted(set(labels_in_file), key=lambda v: (isinstance(v, str), v))
    if len(labels) < min_classes:
        raise DataError(f"{path}: every example has the label {labels[0]!r}; a classifier needs at least two classes")
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[label] for label in labels_in_file], dtype=np.int64)
    return Dataset(texts, y, labels, str(path))


def _normalise_labels(raw: list[Label]) -> list[Label]:
    if all(isinstance(v, int) or _INT.match(v) for v in raw):
        return [int(v) for v in raw]
    return [str(v) for v in raw]


def align_labels(data: Dataset, labels: list[Label]) -> Dataset:
    """Re-express ``data`` in another dataset's label order (test files must not invent classes)."""
    index = {label: i for i, label in enumerate(labels)}
    values = data.label_values()
    if all(isinstance(v, int) for v in values) != all(isinstance(v, int) for v in labels):
        values = [str(v) for v in values]
        index = {str(k): v for k, v in index.items()}
    unknown = sorted({str(v) for v in values if v not in index})
    if unknown:
        raise DataError(
            f"{data.source}: labels {unknown} do not occur in the training data (labels: {labels}). "
            "Check that both files use the same label names."
        )
    return Dataset(data.texts, np.array([index[v] for v in values], dtype=np.int64), labels, data.source)


def holdout_split(data: Dataset, test_size: float, seed: int) -> tuple[Dataset, Dataset]:
    """Seeded, stratified split, refused when a class is too small to appear on both sides."""
    counts = Counter(data.y.tolist())
    small = {data.labels[k]: n for k, n in counts.items() if n < 2}
    if small:
        raise DataError(
            f"{data.source}: classes {small} have fewer than 2 examples, too few to hold some out for "
            "testing. Add examples, or pass a separate test file with --test."
        )
    n_test = int(np.ceil(test_size * len(data)))
    if n_test < len(counts) or len(data) - n_test < len(counts):
        raise DataError(
            f"{data.source}: {len(data)} examples cannot be split {test_size:.0%} for testing with "
            f"{len(counts)} classes. Add examples, change --test-size, or pass --test FILE."
        )
    train_idx, test_idx = train_test_split(
        np.arange(len(data)), test_size=test_size, random_state=seed, stratify=data.y
    )
    return (
        data.subset(np.sort(train_idx), f"{data.source} (train split)"),
        data.subset(np.sort(test_idx), f"{data.source} (held-out split)"),
    )
