"""Multi-label datasets: several labels per text, or none, read through the one file reader.

Three layouts (`LabelLayout`), all read by `probe_runtime.files.read_rows` (``raw_columns``), so a file
means the same thing here as to every other command:

- a label cell holding several labels joined by a separator (``admiration|gratitude``; ``|`` unless told);
  an empty cell is a text no label applies to;
- in JSON Lines, a JSON list (``["admiration", "gratitude"]``; ``[]``: no label); a string there is a cell;
- one 0/1 column per label (``LabelLayout(columns=("toxic", "insult", "threat"))``; also true/false).

Every mistake is a `DataError` of one line naming the file, the line, the field and the fix: a separator
that splits nothing, a label that never occurs (or occurs on every row: neither can be learned), a 0/1
column holding anything else, a label in an evaluation file the training data never had.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from probe_runtime.cells import MISSING_LABELS
from probe_runtime.errors import InputError
from probe_runtime.files import input_format, read_rows

from ..data import _is_blank
from ..errors import DataError, DataFieldError

__all__ = ["DEFAULT_SEPARATOR", "Detection", "LabelLayout", "MultiLabelDataset", "detect_multilabel", "load_multilabel"]

DEFAULT_SEPARATOR = "|"
# Separators a file may use instead of the one asked for: named in the error for a separator that splits nothing.
OTHER_SEPARATORS = ("|", ";", ",", "/", "+")
_TRUE, _FALSE = {"1", "true"}, {"0", "false"}


@dataclass(frozen=True)
class LabelLayout:
    """Where a file keeps its labels: one cell (``column``, joined by ``separator``) or one 0/1 column each.

    ``separator=None``: the default ``|``, not named by the user (a file that never splits on it is then
    single-label data, not a mistake). ``columns``: the 0/1 columns, in the label order the user gave.
    """

    column: str = "label"
    separator: str | None = None
    columns: tuple[str, ...] = ()

    @property
    def sep(self) -> str:
        return DEFAULT_SEPARATOR if self.separator is None else self.separator

    def raw_columns(self) -> list[tuple[str, str]]:
        """The (column, option naming it) pairs `read_rows` reads unchecked for this layout."""
        if self.columns:
            return [(name, "--label-columns") for name in self.columns]
        return [(self.column, "--label-column")]


@dataclass(frozen=True)
class MultiLabelDataset:
    """Texts with a 0/1 row per text over ``labels`` (``y[i, k] == 1``: label k applies to text i)."""

    texts: list[str]
    y: np.ndarray  # uint8 [texts, labels]
    labels: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.texts)

    def support(self) -> np.ndarray:
        """How many texts carry each label."""
        return self.y.sum(axis=0).astype(np.int64)

    def label_sets(self) -> list[list[str]]:
        return [[self.labels[k] for k in np.flatnonzero(row)] for row in self.y]

    def subset(self, index: Sequence[int] | np.ndarray, source: str) -> MultiLabelDataset:
        rows = np.asarray(index, dtype=np.int64)
        return MultiLabelDataset([self.texts[i] for i in rows], self.y[rows], self.labels, source)


@dataclass(frozen=True)
class Detection:
    """Whether a file is multi-label data, and the one line saying why (what training prints)."""

    multilabel: bool
    reason: str


@dataclass(frozen=True)
class _Record:
    line: Any
    text: str
    labels: tuple[str, ...]  # the labels as written, in order, without duplicates
    cell: Any  # what the file holds (for messages)


def _rows(path: Path, text_column: str, layout: LabelLayout) -> Iterator[tuple[Any, str, tuple[Any, ...]]]:
    """(line, text, raw label values) per row, through the shared reader; its errors become `DataError`."""
    if path.is_dir():
        raise DataError(f"{path} is a directory; give a .csv, .tsv or .jsonl file")
    if input_format(str(path)) == "text" and path.suffix.lower() not in ("", ".txt"):
        raise DataError(f"{path}: unsupported file type {path.suffix!r}; use .csv, .tsv or .jsonl")
    if _is_blank(path):
        raise DataError(f"{path} is empty: expected a header row and labelled examples")
    try:
        for row in read_rows(str(path), text_column, raw_columns=layout.raw_columns()):
            if not row.text.strip():
                raise DataError(
                    f"{path}, line {row.id}: the text is empty. Remove the row or fill in its {text_column!r} value."
                )
            yield row.id, row.text, row.raw
    except InputError as exc:
        message = str(exc)
        missing = message.startswith("input file not found")
        raise DataError(f"data file not found: {path}" if missing else message) from None


def _split_cell(value: str, where: str, layout: LabelLayout) -> tuple[str, ...]:
    cell = value.strip()
    if not cell:
        return ()
    if cell.lower() in MISSING_LABELS:
        raise DataError(
            f"{where}: the label cell is {cell!r}, a missing value. Leave it empty for a text no label applies to."
        )
    parts = [part.strip() for part in cell.split(layout.sep)]
    if not all(parts):
        raise DataError(f"{where}: the label cell {cell!r} has an empty label between separators {layout.sep!r}.")
    return tuple(dict.fromkeys(parts))


def _list_labels(value: Any, where: str, layout: LabelLayout) -> tuple[str, ...]:
    """A JSON value of the label field: a list of labels, a cell string, or one integer label."""
    if isinstance(value, str):
        return _split_cell(value, where, layout)
    if isinstance(value, int) and not isinstance(value, bool):
        return (str(value),)
    if isinstance(value, list):
        good = all(
            (isinstance(v, str) and v.strip()) or (isinstance(v, int) and not isinstance(v, bool)) for v in value
        )
        if good:
            return tuple(dict.fromkeys(str(v).strip() for v in value))
    shown = "null" if value is None else repr(value)
    raise DataError(
        f"{where}: field {layout.column!r} holds {shown}; write a JSON list of label names "
        '(["admiration", "gratitude"]; [] for a text no label applies to).'
    )


def _flag(value: Any, where: str, column: str) -> bool:
    """One 0/1 cell: 1/true (the label applies) or 0/false; anything else is refused with the fix."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, str | int) else None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    shown = "empty" if text == "" else f"holds {value!r}"
    raise DataError(
        f"{where}: column {column!r} {shown}; a label column holds 0 (the label does not apply) or 1 (it applies). "
        "Fix the cell."
    )


def _records(path: Path, text_column: str, layout: LabelLayout) -> list[_Record]:
    records = []
    for line, text, raw in _rows(path, text_column, layout):
        where = f"{path}, line {line}"
        if layout.columns:
            labels = tuple(name for name, v in zip(layout.columns, raw) if _flag(v, where, name))
        elif isinstance(raw[0], str):
            labels = _split_cell(raw[0], where, layout)
        else:
            labels = _list_labels(raw[0], where, layout)
        records.append(_Record(line, text, labels, raw[0]))
    if not records:
        raise DataError(f"{path} has a header but no examples")
    return records


def _splits(cell: Any, separator: str) -> bool:
    return isinstance(cell, list) or (
        isinstance(cell, str) and len([p for p in cell.split(separator) if p.strip()]) > 1
    )


def detect_multilabel(path: str | Path, text_column: str = "text", layout: LabelLayout | None = None) -> Detection:
    """Is this file multi-label data? 0/1 label columns are; so is a file with a JSON list or a cell the
    separator splits (reading stops at the first). A file of single labels is single-label data (its
    empty labels then stay the single-label reader's error: only multi-label data has texts without one)."""
    layout = layout or LabelLayout()
    if layout.columns:
        return Detection(True, f"multi-label: one 0/1 column per label ({len(layout.columns)} columns)")
    path = Path(path)
    for line, _, raw in _rows(path, text_column, layout):
        if isinstance(raw[0], list):
            return Detection(True, f"multi-label: {path}, line {line} holds a list of labels in {layout.column!r}")
        if _splits(raw[0], layout.sep):
            return Detection(
                True, f"multi-label: {path}, line {line} holds several labels in {layout.column!r} ({raw[0].strip()!r})"
            )
    return Detection(False, f"single-label: no row of {path} holds more than one label in {layout.column!r}")


def _check_separator(path: Path, records: list[_Record], layout: LabelLayout) -> None:
    """Refuse a separator that splits no cell when the user named it, or when another separator would."""
    if layout.columns or any(_splits(r.cell, layout.sep) for r in records):
        return
    for other in OTHER_SEPARATORS:
        hit = next((r for r in records if other != layout.sep and _splits(r.cell, other)), None)
        if hit is not None:
            raise DataFieldError(
                f"{path}: the separator {layout.sep!r} splits no label cell in column {layout.column!r}, but "
                f"{other!r} does (line {hit.line}: {hit.cell.strip()!r}); pass the separator the file uses "
                "as {label_separator}.",
                "label_separator",
            )
    if layout.separator is not None:
        raise DataFieldError(
            f"{path}: the separator {layout.sep!r} splits no label cell in column {layout.column!r} (every row holds "
            "at most one label); pass the separator the file uses as {label_separator}, or train single-label.",
            "label_separator",
        )


def _check_learnable(path: Path, y: np.ndarray, labels: list[str], layout: LabelLayout) -> None:
    """Every label must occur on some rows and be absent from others, or no model can learn it."""
    support = y.sum(axis=0)
    where = "column" if layout.columns else "label"
    for k, label in enumerate(labels):
        if support[k] == 0:
            raise DataFieldError(
                f"{path}: {where} {label!r} is 0 on every row: the label never occurs, so no model can learn it. "
                "Add texts it applies to, or leave it out of {label_columns}.",
                "label_columns",
            )
        if support[k] == len(y):
            raise DataError(
                f"{path}: {where} {label!r} applies to every row, so no model can learn when it does not. "
                "Add texts it does not apply to, or leave it out."
            )


def _label_order(path: Path, records: list[_Record], layout: LabelLayout, labels: Sequence[str] | None) -> list[str]:
    """The training data's labels (the columns' order, else sorted), or ``labels`` checked against the file."""
    found = list(layout.columns) or sorted({label for r in records for label in r.labels})
    if labels is None:
        return found
    unknown = [label for label in found if label not in labels]
    if unknown:
        raise DataError(
            f"{path}: labels {unknown} do not occur in the training data (labels: {list(labels)}). "
            "Check that both files use the same label names."
        )
    missing = [label for label in labels if label not in found] if layout.columns else []
    if missing:
        raise DataError(f"{path}: no column for the training labels {missing}; add the columns or name them.")
    return list(labels)


def load_multilabel(
    path: str | Path,
    text_column: str = "text",
    layout: LabelLayout | None = None,
    labels: Sequence[str] | None = None,
) -> MultiLabelDataset:
    """Read and check a multi-label file.

    ``labels=None``: training data; its labels are the columns (in order) or every label found (sorted),
    each must occur on some rows but not all, and the separator must split something (see `_check_separator`).
    ``labels`` given: an evaluation file, expressed in that label order; a label the training data lacks
    is refused, a training label the file never uses is fine (an evaluation file may lack rare ones).
    """
    layout, path = layout or LabelLayout(), Path(path)
    records = _records(path, text_column, layout)
    if labels is None:
        _check_separator(path, records, layout)
    order = _label_order(path, records, layout, labels)
    index = {label: k for k, label in enumerate(order)}
    y = np.zeros((len(records), len(order)), dtype=np.uint8)
    for i, record in enumerate(records):
        y[i, [index[label] for label in record.labels]] = 1
    if labels is None:
        _check_learnable(path, y, order, layout)
    return MultiLabelDataset([r.text for r in records], y, order, str(path))
