"""Labelled datasets: read CSV/TSV/JSONL, check them, fix a stable label order, split them.

Files are read by `probe_runtime.files.read_rows`, the same reader `probe-runtime classify` and
`probe embed` use, so a file means the same thing to every command (its module docstring has the
rules: .csv/.tsv with a header, .jsonl/.ndjson/.json as JSON Lines, anything else is plain text and has
no labels). Every check raises `DataError` with the file, the row and what to do, because a traceback
for a typo in a column name is the worst first experience a tool can give.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from probe_runtime.errors import InputError
from probe_runtime.files import input_format, read_rows
from sklearn.model_selection import train_test_split

from .errors import DataError

__all__ = ["Dataset", "align_labels", "holdout_split", "labels_without_weight", "load_dataset", "weight_summary"]

Label = str | int
_INT = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True)
class Dataset:
    """Texts with integer targets into ``labels`` (the stable, recorded label order).

    ``weights``: a training weight per text (``--weight-column``), or None (every text counts once). Weights
    change what a model is fitted to, never how it is scored: held-out figures count every text once.
    """

    texts: list[str]
    y: np.ndarray
    labels: list[Label]
    source: str
    weights: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: Sequence[int] | np.ndarray, source: str) -> Dataset:
        rows = np.asarray(index, dtype=np.int64)
        weights = None if self.weights is None else self.weights[rows]
        return Dataset([self.texts[i] for i in rows], self.y[rows], self.labels, source, weights)

    def label_values(self) -> list[Label]:
        return [self.labels[i] for i in self.y]


def _read_records(
    path: Path, text_column: str, label_column: str, weight_column: str | None = None
) -> list[tuple[int, str, Label, float | None]]:
    """(line number, text, label, weight) per record, through the shared reader; its errors become `DataError`."""
    if path.is_dir():
        raise DataError(f"{path} is a directory; give a .csv, .tsv or .jsonl file")
    kind = input_format(str(path))
    if kind == "text" and path.suffix.lower() not in ("", ".txt"):
        raise DataError(f"{path}: unsupported file type {path.suffix!r}; use .csv, .tsv or .jsonl")
    try:
        if _is_blank(path):
            raise DataError(f"{path} is empty: expected a header row and labelled examples")
        rows = read_rows(str(path), text_column, label_column=label_column, weight_column=weight_column)
        return [(row.id, row.text, row.label, row.weight) for row in rows if row.label is not None]
    except InputError as exc:
        message = str(exc)
        if message.startswith("input file not found"):
            message = f"data file not found: {path}"
        raise DataError(message) from None


def _is_blank(path: Path) -> bool:
    """Nothing but whitespace (and a BOM)? Reads only until the first other byte, so a big file costs nothing."""
    if not path.is_file():
        return False
    with open(path, "rb") as stream:
        while chunk := stream.read(65536):
            if chunk.replace(b"\xef\xbb\xbf", b"").strip():
                return False
    return True


def load_dataset(
    path: str | Path,
    text_column: str = "text",
    label_column: str = "label",
    min_classes: int = 2,
    weight_column: str | None = None,
) -> Dataset:
    """Read and check a labelled file; labels that all look like integers become integers.

    Training data needs two classes; an evaluation file (``min_classes=1``) may hold only one.
    ``weight_column``: a training weight per row (a number >= 0); every class needs some weight.
    """
    path = Path(path)
    records = _read_records(path, text_column, label_column, weight_column)
    if not records:
        raise DataError(f"{path} has a header but no examples")
    texts, raw_labels, raw_weights = [], [], []
    for line, text, label, weight in records:
        if not text.strip():
            raise DataError(
                f"{path}, line {line}: the text is empty. Remove the row or fill in its {text_column!r} value."
            )
        texts.append(text)
        raw_labels.append(label)
        raw_weights.append(weight)
    labels_in_file = _normalise_labels(raw_labels)
    labels = sorted(set(labels_in_file), key=lambda v: (isinstance(v, str), v))
    if len(labels) < min_classes:
        raise DataError(f"{path}: every example has the label {labels[0]!r}; a classifier needs at least two classes")
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[label] for label in labels_in_file], dtype=np.int64)
    weights = None if weight_column is None else np.array(raw_weights, dtype=np.float64)
    if weights is not None and (unweighted := labels_without_weight(y, weights, labels)):
        raise DataError(
            f"{path}: every example of {unweighted} has weight 0 in column {weight_column!r}, so the model "
            "could never learn those labels. Give some of their rows a weight above 0."
        )
    return Dataset(texts, y, labels, str(path), weights)


def labels_without_weight(y: np.ndarray, weights: np.ndarray, labels: Sequence[Label]) -> list[Label]:
    """The labels none of whose rows weighs anything: a model fitted with these weights could never learn them."""
    return [label for k, label in enumerate(labels) if not weights[y == k].sum() > 0]


def weight_summary(weights: np.ndarray) -> dict[str, float | int]:
    """What a run records, and `probe train` prints, of its per-row weights."""
    return {
        "rows": len(weights),
        "zero": int((weights == 0).sum()),
        "sum": float(weights.sum()),
        "max": float(weights.max()),
    }


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
    y = np.array([index[v] for v in values], dtype=np.int64)
    return Dataset(data.texts, y, labels, data.source, data.weights)


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
