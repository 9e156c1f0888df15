"""The rows of a CSV/TSV or JSON Lines file, parsed from lines that `probe_runtime.files` has already read,
counted and decoded (the byte level lives there; this module only sees text).

- ``.csv`` / ``.tsv``: a header row, then one record per row, read by the `csv` module as designed (quoted
  fields may hold the delimiter, newlines, U+2028 or form feeds; fields up to `MAX_FIELD_CHARS`). A
  record with more fields than the header is an error naming its line: an unquoted delimiter in a text
  would otherwise silently shift part of the text into the next column (the label, for training data).
- ``.jsonl`` / ``.ndjson`` / ``.json``: one JSON object per line (JSON Lines).

`Row` is what every reader yields; it lives here, below `probe_runtime.files`, so both can build it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .cells import label_cell, weight_cell
from .errors import InputError

__all__ = [
    "JSONL_SUFFIXES",
    "MAX_FIELD_CHARS",
    "TABLE_FORMATS",
    "UNDECODABLE",
    "Row",
    "jsonl_rows",
    "table_rows",
]

TABLE_FORMATS = {".csv": ",", ".tsv": "\t"}
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
UNDECODABLE = "undecodable"
# The csv module refuses fields over 128 KiB by default; a long document is a legitimate text, so we
# read records up to this bound (16 Mi characters, at most ~64 MB of memory for one record) and refuse a
# longer one with its line: beyond it the likely cause is an unclosed quote swallowing the rest of the file.
MAX_FIELD_CHARS = 16 * 1024 * 1024


@dataclass(frozen=True)
class Row:
    """One text and the id it is reported under; ``skip`` says why it cannot be classified (else None).

    ``label`` is set only when `read_rows` was asked for a ``label_column`` (a string or an integer),
    ``weight`` only when it was asked for a ``weight_column`` (a finite number >= 0).
    ``raw`` holds the values of the ``raw_columns`` asked for, in their order, unchecked: a CSV cell as its
    string, a JSON value as parsed (multi-label data: a label cell, a JSON list, 0/1 columns).
    """

    id: Any
    text: str
    skip: str | None = None
    label: str | int | None = None
    weight: float | None = None
    raw: tuple[Any, ...] = ()


def jsonl_rows(
    path: str,
    lines: Iterable[tuple[int, str, bool]],
    field: str,
    id_field: str | None,
    label_field: str | None,
    weight_field: str | None = None,
    raw_fields: Sequence[tuple[str, str]] = (),
) -> Iterator[Row]:
    options: dict[str | None, str] = {
        field: "--text-column",
        id_field: "--id-column",
        label_field: "--label-column",
        weight_field: "--weight-column",
        **dict(raw_fields),
    }
    for number, line, keep in lines:
        if not line.strip():
            continue
        if not keep:
            yield Row(number, "", UNDECODABLE)
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}, line {number}: not valid JSON ({exc.msg}); one object per line") from None
        if not isinstance(record, dict):
            raise InputError(
                f"{path}, line {number}: expected a JSON object, got {type(record).__name__}; "
                "one object per line (JSON Lines)"
            )
        for wanted in filter(None, (field, id_field, label_field, weight_field, *(n for n, _ in raw_fields))):
            if wanted not in record:
                raise InputError(
                    f"{path}, line {number}: no field {wanted!r} (found {sorted(record)}); use {options[wanted]}"
                )
        if not isinstance(record[field], str):
            raise InputError(f"{path}, line {number}: field {field!r} is {type(record[field]).__name__}, not a string")
        label = label_cell(record[label_field], f"{path}, line {number}") if label_field else None
        weight = weight_cell(record[weight_field], f"{path}, line {number}") if weight_field else None
        raw = tuple(record[name] for name, _ in raw_fields)
        yield Row(record[id_field] if id_field else number, record[field], label=label, weight=weight, raw=raw)


class _Records:
    """CSV/TSV records, each with the line it starts on and whether all of its lines decoded.

    The csv module reports neither (a quoted field may span lines), so the lines are fed to it through
    `_text_lines`, which notes them; our own size bound fails before the csv module's, with a line.
    """

    def __init__(self, path: str, lines: Iterable[tuple[int, str, bool]], delimiter: str) -> None:
        self.path, self._lines = path, lines
        self.line = 0  # the last line read
        self.start, self.keep, self._chars = 0, True, 0  # of the current record
        # Process-wide setting of the csv module, only ever raised: our bound (`_text_lines`) fails first.
        if csv.field_size_limit() <= MAX_FIELD_CHARS:
            csv.field_size_limit(MAX_FIELD_CHARS + 1)
        self._reader = csv.reader(self._text_lines(), delimiter=delimiter)

    def _text_lines(self) -> Iterator[str]:
        for number, line, keep in self._lines:
            if self.start == 0:
                self.start = number
            self.line = number
            self.keep = self.keep and keep
            self._chars += len(line)
            if self._chars > MAX_FIELD_CHARS:
                raise InputError(
                    f"{self.path}, line {self.start}: a record longer than {MAX_FIELD_CHARS:,} characters "
                    f"(through line {number}). Check for an unclosed quote, or split the text."
                )
            yield line

    def next(self) -> list[str] | None:
        """The next record, or None at the end; `start` and `keep` then describe it."""
        self.start, self.keep, self._chars = 0, True, 0
        try:
            return next(self._reader)
        except csv.Error as exc:
            raise InputError(f"{self.path}, line {self.line}: not valid CSV ({exc})") from None
        except StopIteration:
            return None


def _column_indices(path: str, header: list[str], columns: list[tuple[str | None, str]]) -> list[int | None]:
    """Where each wanted column is in ``header`` (None for one not asked for); ``columns``: (name, option) pairs."""
    for wanted, option in columns:
        if wanted is not None and wanted not in header:
            raise InputError(f"{path}: no column {wanted!r}; the header has {header}. Pick one with {option}.")
        if wanted is not None and header.count(wanted) > 1:
            # Which one was meant cannot be known: using the first would silently drop the other's values.
            places = ", ".join(str(i + 1) for i, name in enumerate(header) if name == wanted)
            raise InputError(
                f"{path}: the header names column {wanted!r} {header.count(wanted)} times (columns {places}); "
                "rename all but one, or pick another column with " + option + "."
            )
    return [None if wanted is None else header.index(wanted) for wanted, _ in columns]


def table_header(path: str, lines: Iterable[tuple[int, str, bool]], delimiter: str) -> list[str]:
    """The first record of a CSV/TSV file (its column names), read as `table_rows` reads it; [] when empty."""
    return _Records(path, lines, delimiter).next() or []


def table_rows(
    path: str,
    lines: Iterable[tuple[int, str, bool]],
    delimiter: str,
    column: str,
    id_column: str | None,
    label_column: str | None,
    weight_column: str | None = None,
    raw_columns: Sequence[tuple[str, str]] = (),
) -> Iterator[Row]:
    """Records with the line they start on; a record with bad bytes on any of its lines is undecodable."""
    records = _Records(path, lines, delimiter)
    header = records.next()
    if header is None:
        raise InputError(f"{path} is empty: expected a header row with a {column!r} column")
    options = [
        (column, "--text-column"),
        (id_column, "--id-column"),
        (label_column, "--label-column"),
        (weight_column, "--weight-column"),
        *raw_columns,
    ]
    text_at, id_at, label_at, weight_at, *raw_at = _column_indices(path, header, options)
    assert text_at is not None  # the text column is always asked for
    while (record := records.next()) is not None:
        if not record:  # a blank line is not a record
            continue
        row_id = record[id_at] if id_at is not None and id_at < len(record) else records.start
        if not records.keep:
            yield Row(row_id, "", UNDECODABLE)
            continue
        if len(record) != len(header):
            raise InputError(_field_count_error(path, records.start, records.line, len(record), header, delimiter))
        label = label_cell(record[label_at], f"{path}, line {records.start}") if label_at is not None else None
        weight = weight_cell(record[weight_at], f"{path}, line {records.start}") if weight_at is not None else None
        raw = tuple(record[i] for i in raw_at if i is not None)
        yield Row(row_id, record[text_at], label=label, weight=weight, raw=raw)


def _field_count_error(path: str, start: int, end: int, fields: int, header: list[str], delimiter: str) -> str:
    where = f"{path}, line {start}: the row has {fields} fields, the header has {len(header)}"
    if fields > len(header):
        name = "tab" if delimiter == "\t" else "comma"
        return f'{where}. Quote a text that contains a {name} ("a{delimiter} b"), or fix the row.'
    if end > start:
        return f"{where} (the record runs to line {end}: check for an unclosed quote)."
    return f"{where}. Fill in the missing fields or fix the row."
