"""Reading texts from files and writing predictions, one row at a time.

Inputs are streamed, so memory stays flat however long the file is; outputs go to a temporary file
that is moved into place only when every row is written, so an interrupted run never leaves a
half-written file under the final name.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import InputError

__all__ = ["Row", "RowWriter", "atomic_output", "detect_format", "read_rows", "write_jsonl"]

TABLE_FORMATS = {".csv": ",", ".tsv": "\t"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}


@dataclass(frozen=True)
class Row:
    """One text to classify and the id it is reported under (line number unless a column is named)."""

    id: Any
    text: str


def detect_format(path: str) -> str:
    """``csv``, ``tsv``, ``jsonl`` or ``text``, by file extension."""
    suffix = Path(path).suffix.lower()
    if suffix in TABLE_FORMATS:
        return suffix[1:]
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    return "text"


def _decoded_lines(path: str, stream: IO[bytes]) -> Iterator[tuple[int, str]]:
    """Lines as text with their 1-based line number; undecodable bytes name the line."""
    for number, raw in enumerate(stream, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{path}, line {number}: bytes that are not UTF-8 at column {exc.start + 1}. Re-save the file as UTF-8."
            ) from None


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
    except IsADirectoryError:
        raise InputError(f"{path} is a directory; give a file") from None


def read_rows(path: str, text_column: str = "text", id_column: str | None = None) -> Iterator[Row]:
    """Stream the texts of a plain-text, CSV/TSV or JSONL file (``-`` reads stdin as plain text)."""
    kind = "text" if path == "-" else detect_format(path)
    with _open_binary(path) as stream:
        lines = _decoded_lines(path, stream)
        if kind == "text":
            for number, line in lines:
                yield Row(number, line.rstrip("\r\n"))
        elif kind == "jsonl":
            yield from _jsonl_rows(path, lines, text_column, id_column)
        else:
            yield from _table_rows(path, lines, TABLE_FORMATS["." + kind], text_column, id_column)


def _jsonl_rows(path: str, lines: Iterable[tuple[int, str]], field: str, id_field: str | None) -> Iterator[Row]:
    for number, line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}, line {number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict) or field not in record:
            keys = sorted(record) if isinstance(record, dict) else type(record).__name__
            raise InputError(f"{path}, line {number}: no field {field!r} (found {keys}); use --text-column")
        if not isinstance(record[field], str):
            raise InputError(f"{path}, line {number}: field {field!r} is not a string")
        yield Row(record.get(id_field, number) if id_field else number, record[field])


def _table_rows(
    path: str, lines: Iterable[tuple[int, str]], delimiter: str, column: str, id_column: str | None
) -> Iterator[Row]:
    numbered = iter(lines)
    current = [0]

    def text_lines() -> Iterator[str]:
        for number, line in numbered:
            current[0] = number
            yield line

    reader = csv.reader(text_lines(), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        raise InputError(f"{path} is empty: expected a header row with a {column!r} column")
    for wanted in filter(None, (column, id_column)):
        if wanted not in header:
            raise InputError(f"{path}: no column {wanted!r}; the header has {header}. Pick one with --text-column.")
    text_at = header.index(column)
    id_at = header.index(id_column) if id_column else None
    for index, record in enumerate(reader, start=1):
        if not record:
            continue
        if len(record) <= max(text_at, id_at or 0):
            raise InputError(f"{path}, line {current[0]}: row has {len(record)} fields, header has {len(header)}")
        yield Row(record[id_at] if id_at is not None else index, record[text_at])


@contextmanager
def atomic_output(path: str | None) -> Iterator[IO[str]]:
    """A text stream that becomes ``path`` only if the block finishes (stdout when ``path`` is None)."""
    if path is None or path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with open(fd, "w", encoding="utf-8", newline="") as stream:
            yield stream
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(stream: IO[str], record: dict[str, Any]) -> None:
    stream.write(json.dumps(record, ensure_ascii=False) + "\n")


class RowWriter:
    """Writes prediction records as JSONL or CSV with a fixed set of columns."""

    def __init__(self, stream: IO[str], fmt: str, columns: list[str]):
        self.stream = stream
        self.fmt = fmt
        self.columns = columns
        self._csv = None
        if fmt in ("csv", "tsv"):
            self._csv = csv.writer(stream, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
            self._csv.writerow(columns)

    def write(self, record: dict[str, Any]) -> None:
        if self._csv is not None:
            self._csv.writerow([record.get(c, "") for c in self.columns])
        else:
            write_jsonl(self.stream, record)
