"""Reading texts from files, one row at a time.

Inputs are streamed (a line, a CSV record or a JSONL object at a time), so memory stays flat however
long the file is. Every row keeps an id a person can find again: the line number, the file path for
a directory of ``.txt`` files, or a named id column. Rows that cannot be read under ``errors="skip"``
are still yielded, marked with why, so callers can count them instead of losing them silently.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import InputError

__all__ = [
    "ERROR_MODES",
    "INPUT_FORMATS",
    "ByteCounter",
    "Row",
    "detect_format",
    "input_format",
    "input_size",
    "read_rows",
]

TABLE_FORMATS = {".csv": ",", ".tsv": "\t"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
INPUT_FORMATS = ("text", "csv", "tsv", "jsonl")
ERROR_MODES = ("strict", "replace", "skip")
UNDECODABLE = "undecodable"
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Row:
    """One text and the id it is reported under; ``skip`` says why it cannot be classified (else None)."""

    id: Any
    text: str
    skip: str | None = None


class ByteCounter:
    """Bytes consumed so far across inputs: progress against file sizes gives an honest ETA."""

    def __init__(self) -> None:
        self.n = 0


def detect_format(path: str) -> str:
    """``csv``, ``tsv``, ``jsonl`` or ``text``, by file extension."""
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
    """(1-based line number, text, keep) per line; a leading BOM is dropped."""
    for number, raw in enumerate(stream, start=1):
        if counter is not None:
            counter.n += len(raw)
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


def read_rows(
    path: str,
    text_column: str = "text",
    id_column: str | None = None,
    *,
    errors: str = "strict",
    fmt: str | None = None,
    counter: ByteCounter | None = None,
) -> Iterator[Row]:
    """Stream the rows of a plain-text, CSV/TSV or JSONL file, a directory of ``.txt`` files, or stdin (``-``).

    ``errors``: ``strict`` raises `InputError` naming the file and line of bytes that are not UTF-8;
    ``replace`` substitutes U+FFFD; ``skip`` yields the row with ``skip="undecodable"``.
    ``fmt`` overrides detection by extension (needed for CSV/JSONL on stdin).
    """
    if errors not in ERROR_MODES:
        raise InputError(f"errors must be one of {ERROR_MODES}, not {errors!r}")
    kind = input_format(path, fmt)
    if kind == "dir":
        yield from _directory_rows(Path(path), errors, counter)
        return
    with _open_binary(path) as stream:
        lines = _decoded_lines(path, stream, errors, counter)
        if kind == "text":
            for number, line, keep in lines:
                yield Row(number, line.rstrip("\r\n"), None if keep else UNDECODABLE)
        elif kind == "jsonl":
            yield from _jsonl_rows(path, lines, text_column, id_column)
        else:
            yield from _table_rows(path, lines, "\t" if kind == "tsv" else ",", text_column, id_column)


def _text_files(root: Path) -> list[Path]:
    """Every ``.txt`` file under ``root``, in a stable order (sorted by relative path)."""
    return sorted((p for p in root.rglob("*.txt") if p.is_file()), key=lambda p: p.relative_to(root).as_posix())


def _directory_rows(root: Path, errors: str, counter: ByteCounter | None) -> Iterator[Row]:
    """One row per file: a file is one item, so it is read whole (that is the unit being classified)."""
    for file in _text_files(root):
        raw = file.read_bytes()
        if counter is not None:
            counter.n += len(raw)
        raw = raw.removeprefix(BOM)
        try:
            text, keep = raw.decode("utf-8"), True
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            text, keep = _decode(raw, f"{file}, line {line}", errors)
        yield Row(str(file), text, None if keep else UNDECODABLE)


def _jsonl_rows(path: str, lines: Iterable[tuple[int, str, bool]], field: str, id_field: str | None) -> Iterator[Row]:
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
            raise InputError(f"{path}, line {number}: expected a JSON object, got {type(record).__name__}")
        for wanted in filter(None, (field, id_field)):
            if wanted not in record:
                option = "--text-field" if wanted == field else "--id-column"
                raise InputError(f"{path}, line {number}: no field {wanted!r} (found {sorted(record)}); use {option}")
        if not isinstance(record[field], str):
            raise InputError(f"{path}, line {number}: field {field!r} is {type(record[field]).__name__}, not a string")
        yield Row(record[id_field] if id_field else number, record[field])


def _table_rows(
    path: str, lines: Iterable[tuple[int, str, bool]], delimiter: str, column: str, id_column: str | None
) -> Iterator[Row]:
    """Records with the line they start on; a record with bad bytes on any of its lines is undecodable."""
    state = {"line": 0, "start": 0, "keep": True}

    def text_lines() -> Iterator[str]:
        for number, line, keep in lines:
            if state["start"] == 0:
                state["start"] = number
            state["line"] = number
            state["keep"] = state["keep"] and keep
            yield line

    def next_record(reader: Iterator[list[str]]) -> tuple[list[str] | None, int, bool]:
        state.update(start=0, keep=True)
        try:
            record = next(reader)
        except csv.Error as exc:
            raise InputError(f"{path}, line {state['line']}: not valid CSV ({exc})") from None
        except StopIteration:
            return None, 0, True
        return record, state["start"], state["keep"]

    reader = csv.reader(text_lines(), delimiter=delimiter)
    header, _, _ = next_record(reader)
    if header is None:
        raise InputError(f"{path} is empty: expected a header row with a {column!r} column")
    for wanted in filter(None, (column, id_column)):
        if wanted not in header:
            option = "--text-column" if wanted == column else "--id-column"
            raise InputError(f"{path}: no column {wanted!r}; the header has {header}. Pick one with {option}.")
    text_at = header.index(column)
    id_at = header.index(id_column) if id_column else None
    while True:
        record, start, keep = next_record(reader)
        if record is None:
            return
        if not record:  # a blank line is not a record
            continue
        if not keep:
            yield Row(record[id_at] if id_at is not None and id_at < len(record) else start, "", UNDECODABLE)
            continue
        if len(record) <= max(text_at, id_at or 0):
            raise InputError(f"{path}, line {start}: row has {len(record)} fields, the header has {len(header)}")
        yield Row(record[id_at] if id_at is not None else start, record[text_at])
