"""Reading texts (and, for training data, labels) from files, one row at a time: ONE reader for every command.

`probe-runtime classify`, `probe embed` and `probe train` all read through `read_rows`, so a file means
the same thing to each of them. The format comes from the extension (``fmt`` overrides it):

- ``.csv`` / ``.tsv``: a header row, then one record per row (parsed by `probe_runtime.tables`).
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
It lives here, with the reader that feeds it byte by byte; `read_inputs` is the whole reading side of
``classify``: every input in order, ids ready to report, a changed input named as such.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from .errors import InputError
from .tables import (
    JSONL_SUFFIXES,
    MAX_FIELD_CHARS,
    TABLE_FORMATS,
    UNDECODABLE,
    Row,
    jsonl_rows,
    table_header,
    table_rows,
)

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
    "prefixes_ids",
    "read_inputs",
    "read_rows",
    "table_columns",
]

INPUT_FORMATS = ("text", "csv", "tsv", "jsonl")
ERROR_MODES = ("strict", "replace", "skip")
BOM = b"\xef\xbb\xbf"


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
            yield from jsonl_rows(path, lines, text_column, id_column, label_column, weight_column, raw_columns)
        else:
            delimiter = "\t" if kind == "tsv" else ","
            yield from table_rows(
                path, lines, delimiter, text_column, id_column, label_column, weight_column, raw_columns
            )


def table_columns(path: str, fmt: str | None = None) -> list[str]:
    """The column names in a CSV/TSV file's header, read as `read_rows` reads them, so a caller that keeps every
    column (``raw_columns``) needs no second reader; [] for kinds without a header (plain text, JSONL, a
    directory). Reads the first record only; not for stdin, which it would consume."""
    kind = input_format(path, fmt)
    if kind not in ("csv", "tsv") or path == "-":
        return []
    with _open_binary(path) as stream:
        return table_header(path, _decoded_lines(path, stream, "strict", None), "\t" if kind == "tsv" else ",")


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


class InputChanged(InputError):
    """An input no longer starts with the bytes an interrupted run already classified."""


class _Consumed:
    """One input's consumed bytes: how many were hashed and their running sha256."""

    def __init__(self, path: str):
        self.path = path
        self.length = 0
        self.sha256 = hashlib.sha256()
        self.verified = False


class ByteCounter:
    """Every byte the reader consumes: ``n`` (progress against file sizes gives an honest ETA) and a sha256
    per input of its bytes consumed so far.

    `consumed` records, at a checkpoint, "the first B bytes of input i have digest H". A resumed run calls
    `expect` with that record and reads the inputs again from the start (hashing while it skips the rows
    already done): the moment input i's consumed length reaches B its digest must be H, else
    `InputChanged` is raised naming the file. Content, not size and mtime, is what identifies an input.
    """

    def __init__(self) -> None:
        self.n = 0
        self._inputs: list[_Consumed] = []
        self._expected: list[dict[str, Any]] = []

    def begin(self, path: str) -> None:
        """``read_rows`` starts reading ``path`` (inputs are numbered in the order they begin)."""
        self._check_complete(len(self._inputs))
        self._inputs.append(_Consumed(path))
        self._check(len(self._inputs) - 1)

    def add(self, raw: bytes, name: bytes = b"") -> None:
        """``raw`` was read from the current input; ``name`` (a directory's file name) is hashed, not counted."""
        self.n += len(raw)
        current = self._inputs[-1] if self._inputs else None
        if current is None:  # a counter used without begin(): progress only
            return
        current.sha256.update(name)
        current.sha256.update(raw)
        current.length += len(name) + len(raw)
        self._check(len(self._inputs) - 1)

    def consumed(self) -> list[dict[str, Any]]:
        """JSON-safe record of every input begun so far: path, bytes hashed, sha256 of those bytes."""
        return [{"path": c.path, "bytes": c.length, "sha256": c.sha256.hexdigest()} for c in self._inputs]

    def expect(self, consumed: list[dict[str, Any]]) -> None:
        """Verify, while reading, that the inputs start with the bytes recorded by `consumed` earlier."""
        self._expected = list(consumed)

    @property
    def verifying(self) -> bool:
        """True while some expected prefix has not been read and checked yet."""
        return any(not self._verified(i) for i in range(len(self._expected)))

    def finish(self) -> None:
        """Every input was read to its end: an expected prefix never reached means an input shrank."""
        self._check_complete(len(self._expected))

    def _verified(self, index: int) -> bool:
        return index < len(self._inputs) and self._inputs[index].verified

    def _check(self, index: int) -> None:
        if index >= len(self._expected):
            return
        current, want = self._inputs[index], self._expected[index]
        if current.verified:
            return
        if current.length == want["bytes"]:
            if current.sha256.hexdigest() != want["sha256"]:
                raise self._changed(index)
            current.verified = True
        elif current.length > want["bytes"]:
            raise self._changed(index)

    def _check_complete(self, upto: int) -> None:
        """Inputs before ``upto`` are finished: each must have been verified."""
        for index in range(min(upto, len(self._expected))):
            if not self._verified(index):
                raise self._changed(index)

    def _changed(self, index: int) -> InputChanged:
        path = self._expected[index]["path"]
        size = self._expected[index]["bytes"]
        return InputChanged(
            f"cannot resume: {path} changed since the interrupted run (its first {size:,} bytes are not the "
            "ones already classified). Resume with the same inputs, or run without --resume to start over."
        )


def prefixes_ids(path: str, inputs: Sequence[str]) -> bool:
    """Whether ``path``'s rows report ``PATH:line`` ids: with several inputs a line number alone would not say
    which file (a directory's rows already carry their file's path). The local and the Ray runs share it."""
    return len(inputs) > 1 and input_format(path) != "dir"


def read_inputs(
    paths: Sequence[str],
    text_column: str = "text",
    id_column: str | None = None,
    *,
    errors: str = "strict",
    fmt: str | None = None,
    counter: ByteCounter,
) -> Iterator[Row]:
    """The rows of every input in order, ids ready to report (``PATH:line`` with several inputs, see `prefixes_ids`).

    A resumed run's ``counter`` (`ByteCounter.expect`) first re-reads the part already classified: a row that
    no longer parses there, or an input that ends before it, means the input changed since, so the error is
    `InputChanged`, which tells the writer to keep the earlier run's work for a resume with the old inputs.
    """
    try:
        for path in paths:
            prefix = prefixes_ids(path, paths)
            for row in read_rows(path, text_column, id_column, errors=errors, fmt=fmt, counter=counter):
                yield Row(f"{path}:{row.id}", row.text, row.skip) if prefix else row
        counter.finish()  # every input read to its end: a recorded prefix never reached means an input shrank
    except InputChanged:
        raise
    except InputError as exc:
        if not counter.verifying:
            raise
        raise InputChanged(
            f"cannot resume: an input changed since the interrupted run ({exc}). "
            "Resume with the same inputs, or run without --resume to start over."
        ) from None
