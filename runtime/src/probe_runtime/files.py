"""Reading texts (and, for training data, labels) from files, one row at a time: ONE reader for every command.

`probe-runtime classify`, `probe embed` and `probe train` all read through `read_rows`, so a file means
the same thing to each of them. The format comes from the extension (``fmt`` overrides it):

- ``.csv`` / ``.tsv``: a header row, then one record per row, read by the `csv` module as designed (quoted
  fields may hold the delimiter, newlines, U+2028 or form feeds; fields up to `MAX_FIELD_CHARS`). A
  record with more fields than the header is an error naming its line: an unquoted delimiter in a text
  would otherwise silently shift part of the text into the next column (the label, for training data).
- ``.jsonl`` / ``.ndjson`` / ``.json``: one JSON object per line (JSON Lines). A ``.json`` file is read
  as JSON Lines everywhere; a pretty-printed JSON document is refused with the line that is not an object.
- anything else (``.txt``, no extension, stdin ``-``): plain text, one text per line. Plain text has no
  label column, so training data in it is refused ("no labels: use .csv, .tsv or .jsonl").
- a directory: one text per ``.txt`` file under it (recursively, in path order).

Labels (``label_column``) are strings or integers: a JSON integer stays an integer; CSV cells stay strings
here and the dataset decides whether all of them look like integers. A missing value is never a class:
an empty label, ``NaN``/``nan``/``null``/``None`` (any case), JSON ``null``, a float (``1.0``, ``NaN``),
a bool, a list or an object is an error naming the file and line.

Inputs are streamed (a line, a CSV record or a JSONL object at a time), so memory stays flat however
long the file is. Every row keeps an id a person can find again: the line number (for CSV, the line the
record starts on), the file path for a directory of ``.txt`` files, or a named id column. Rows that
cannot be decoded under ``errors="skip"`` are still yielded, marked with why, so callers can count them
instead of losing them silently. A `ByteCounter` sees every byte read: it measures progress and keeps a
sha256 of each input's consumed bytes, which is how ``classify --resume`` knows an input did not change.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .cells import label_cell, weight_cell
from .consumed import ByteCounter, InputChanged
from .errors import InputError

__all__ = [
    "ERROR_MODES",
    "INPUT_FORMATS",
    "MAX_FIELD_CHARS",
    "ByteCounter",
    "InputChanged",
    "Row",
    "detect_format",
    "input_format",
    "input_size",
    "read_rows",
]

TABLE_FORMATS = {".csv": ",", ".tsv": "\t"}
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
INPUT_FORMATS = ("text", "csv", "tsv", "jsonl")
ERROR_MODES = ("strict", "replace", "skip")
UNDECODABLE = "undecodable"
BOM = b"\xef\xbb\xbf"
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


def detect_format(path: str) -> str:
    """``csv``, ``tsv``, ``jsonl`` or ``text``, by file extension (see the module docstring)."""
    suffix = Path(path).suffix.lower()
    if suffix in TABLE_FORMATS:
        return suffix[1:]
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    return "text"


def input_format(path: str, forced: str | None = None) -> str:
    """What ``read_rows`` will treat ``path`` as: ``dir``, or ``forced``, or by extension (stdin: text)."""
    if path != "-" and Path(path).is_dir():
        return "dir"
    if forced:
        return forced
    return "text" if path == "-" else detect_format(path)


def input_size(path: str) -> int | None:
    """Bytes ``read_rows`` will consume from ``path`` (None for stdin, whose size is unknown)."""
    if path == "-":
        return None
    p = Path(path)
    if p.is_dir():
        return sum(f.stat().st_size for f in _text_files(p))
    return p.stat().st_size if p.is_file() else 0


def _decode(raw: bytes, where: str, errors: str) -> tuple[str, bool]:
    """(text, keep): ``keep`` is False only for bad bytes under ``skip``; ``strict`` names the place and the fix."""
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError as exc:
        if errors == "strict":
            raise InputError(
                f"{where}: bytes that are not UTF-8 at column {exc.start + 1}. Re-save the file as UTF-8, "
                "or pass --errors replace (U+FFFD for bad bytes) or --errors skip (drop the row)."
            ) from None
        return raw.decode("utf-8", errors="replace"), errors != "skip"


def _decoded_lines(
    path: str, stream: IO[bytes], errors: str, counter: ByteCounter | None
) -> Iterator[tuple[int, str, bool]]:
    """(1-based line number, text, keep) per line; a leading BOM is dropped.

    Lines end at b"\n" only (iterating a binary stream), never at U+2028, form feed or other characters
    `str.splitlines` would break on: those are text, and the csv module sees quoted ``\r\n`` intact.
    """
    for number, raw in enumerate(stream, start=1):
        if counter is not None:
            counter.add(raw)
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        text, keep = _decode(raw, f"{path}, line {number}", errors)
        yield number, text, keep


@contextmanager
def _open_binary(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        with open(path, "rb") as stream:
            yield stream
    except FileNotFoundError:
        raise InputError(f"input file not found: {path}") from None
    except IsADirectoryError:  # only when `fmt` forces a format onto a directory
        raise InputError(f"{path} is a directory; give a file") from None


def read_rows(
    path: str,
    text_column: str = "text",
    id_column: str | None = None,
    *,
    errors: str = "strict",
    fmt: str | None = None,
    counter: ByteCounter | None = None,
    label_column: str | None = None,
    weight_column: str | None = None,
    raw_columns: Sequence[tuple[str, str]] = (),
) -> Iterator[Row]:
    """Stream the rows of a plain-text, CSV/TSV or JSONL file, a directory of ``.txt`` files, or stdin (``-``).

    ``errors``: ``strict`` raises `InputError` naming the file and line of bytes that are not UTF-8;
    ``replace`` substitutes U+FFFD; ``skip`` yields the row with ``skip="undecodable"``.
    ``fmt`` overrides detection by extension (needed for CSV/JSONL on stdin).
    ``label_column``: also read a label per row (CSV/TSV/JSONL only; see the module docstring).
    ``weight_column``: also read a training weight per row (CSV/TSV/JSONL only): a number >= 0.
    ``raw_columns``: (column, the option that names it) pairs whose values `Row.raw` carries unchecked
    (CSV/TSV/JSONL only); the caller checks them. A missing column is refused naming that option.
    """
    if errors not in ERROR_MODES:
        raise InputError(f"errors must be one of {ERROR_MODES}, not {errors!r}")
    kind = input_format(path, fmt)
    wanted_columns = [(label_column, "labels"), (weight_column, "weights")]
    wanted_columns += [(name, "labels") for name, _ in raw_columns]
    for wanted, what_for in wanted_columns:
        if wanted is not None and kind in ("text", "dir"):
            what = "a directory" if kind == "dir" else "plain text (one text per line)"
            raise InputError(
                f"{path}: no {what_for}: it is read as {what}, which has no columns. "
                f"Use a .csv, .tsv or .jsonl file with a {wanted!r} column."
            )
    if counter is not None:
        counter.begin(path)
    if kind == "dir":
        yield from _directory_rows(Path(path), errors, counter)
        return
    with _open_binary(path) as stream:
        lines = _decoded_lines(path, stream, errors, counter)
        if kind == "text":
            for number, line, keep in lines:
                yield Row(number, line.rstrip("\r\n"), None if keep else UNDECODABLE)
        elif kind == "jsonl":
            yield from _jsonl_rows(path, lines, text_column, id_column, label_column, weight_column, raw_columns)
        else:
            delimiter = "\t" if kind == "tsv" else ","
            yield from _table_rows(
                path, lines, delimiter, text_column, id_column, label_column, weight_column, raw_columns
            )


def _text_files(root: Path) -> list[Path]:
    """Every ``.txt`` file under ``root``, in a stable order (sorted by relative path)."""
    return sorted((p for p in root.rglob("*.txt") if p.is_file()), key=lambda p: p.relative_to(root).as_posix())


def _directory_rows(root: Path, errors: str, counter: ByteCounter | None) -> Iterator[Row]:
    """One row per file: a file is one item, so it is read whole (that is the unit being classified)."""
    for file in _text_files(root):
        raw = file.read_bytes()
        if counter is not None:  # the name is hashed too: a renamed file changes the row ids
            counter.add(raw, name=file.relative_to(root).as_posix().encode("utf-8", "surrogateescape") + b"\0")
        raw = raw.removeprefix(BOM)
        try:
            text, keep = raw.decode("utf-8"), True
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            text, keep = _decode(raw, f"{file}, line {line}", errors)
        yield Row(str(file), text, None if keep else UNDECODABLE)


def _jsonl_rows(
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


def _table_rows(
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
