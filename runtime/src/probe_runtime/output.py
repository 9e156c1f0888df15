"""Writing predictions so that nothing is lost: a partial file moved into place at the end, resumable.

Rows go to ``.NAME.partial`` next to the output ``NAME``; at every checkpoint (a window boundary)
the file is flushed to disk and a small state record ``.NAME.partial.json`` notes how many input rows
and output bytes are complete. Only a finished run renames the partial file to ``NAME``, so a reader
never sees half an output. After a crash, Ctrl-C or ``kill -9``, ``--resume`` checks that the state
belongs to the same model (by its sha256), inputs and options, cuts the partial file back to the last
checkpoint and carries on; the caller checks, while it skips the rows already done, that each input
still starts with the bytes already classified (`probe_runtime.files.ByteCounter`). The result is
byte-for-byte what an uninterrupted run writes.

The partial file is created by ``open()``, so the output gets the user's umask like any file they
create; when ``--overwrite`` replaces a previous output, the new one keeps the old one's mode.

`PartialOutput` owns the whole life of the output file: the resume state (`open`), the write loop with
its checkpoints (`write`, fed an iterator of answered records and `Checkpoint` marks, never calling back
into whoever answers them), the move into place, and on failure whether the partial file is kept for
``--resume`` or removed. The output itself was claimed (checked and locked) before: `probe_runtime.claim`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .artifact import Label
from .claim import LABELS_COLUMN, PREDICTION_COLUMNS, OutputClaim, partial_path
from .errors import InputError, UsageError
from .files import InputChanged
from .tables import TABLE_FORMATS

TABLE_FORMATS_BY_NAME = {suffix[1:]: delimiter for suffix, delimiter in TABLE_FORMATS.items()}  # csv, tsv

__all__ = [
    "LABELS_COLUMN",
    "LABEL_SEPARATOR",
    "PREDICTION_COLUMNS",
    "Checkpoint",
    "PartialOutput",
    "RowWriter",
    "file_sha256",
    "label_separator",
    "output_format",
    "partial_path",
]

STATE_VERSION = 2  # 2: the model and inputs are identified by content (sha256), not size and mtime
_FOLLOW_THE_MODEL = ("columns", "label_thresholds")  # what another model changes by itself
LABEL_SEPARATOR = "|"  # between the labels of a CSV/TSV cell, as training reads a multi-label cell


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks (the model: what a resumed run must match)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def label_separator(labels: Sequence[Label], multi_label: bool, asked: str | None, fmt: str) -> str:
    """The separator between the labels of a CSV/TSV ``labels`` cell (``asked``, else `LABEL_SEPARATOR`).

    A label that contains it is refused (`UsageError`) rather than quoted: a cell of labels is then split back
    by the separator alone (``cell.split("|")``, or probe's own training reader), and an empty cell is always
    the empty set. Asking for a separator where no cell holds labels (a single-label file, JSONL or Parquet,
    where labels are a list) is refused too: it would be silently ignored.
    """
    if asked is not None and not multi_label:
        raise UsageError("--label-separator is for multi-label files; this file gives one label per text")
    if asked is not None and fmt not in TABLE_FORMATS_BY_NAME:
        raise UsageError(f"--label-separator is for CSV/TSV output; {fmt} writes the labels as a list")
    separator = LABEL_SEPARATOR if asked is None else asked
    if not separator or "\n" in separator or "\r" in separator:
        raise UsageError(f"--label-separator must be a non-empty string without line breaks, not {separator!r}")
    clash = next((label for label in labels if separator in str(label)), None) if multi_label else None
    if clash is not None and fmt in TABLE_FORMATS_BY_NAME:
        raise UsageError(
            f"the label {str(clash)!r} contains the label separator {separator!r}, so a {fmt.upper()} cell of "
            "labels could not be split back; choose another with --label-separator, or write JSONL"
        )
    return separator


class RowWriter:
    """Writes prediction records as JSONL or CSV/TSV with a fixed set of columns.

    A multi-label record's ``labels`` (a list) is a JSON list in JSONL and, in CSV/TSV, one cell of the labels
    joined by ``separator`` (empty: no label applies); `label_separator` made sure no label contains it.
    """

    def __init__(
        self, stream: IO[str], fmt: str, columns: list[str], header: bool = True, separator: str = LABEL_SEPARATOR
    ):
        self.stream = stream
        self.columns = columns
        self.separator = separator
        self._csv = None
        if fmt in TABLE_FORMATS_BY_NAME:
            self._csv = csv.writer(stream, delimiter=TABLE_FORMATS_BY_NAME[fmt], lineterminator="\n")
            if header:
                self._csv.writerow(columns)

    def write(self, record: dict[str, Any]) -> None:
        if self._csv is not None:
            self._csv.writerow([self._cell(c, record.get(c, "")) for c in self.columns])
        else:
            self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")

    def _cell(self, column: str, value: Any) -> Any:
        return self.separator.join(str(label) for label in value) if column == LABELS_COLUMN else value


@dataclass(frozen=True)
class Checkpoint:
    """A consistent resume point among the answered records: every row read so far is written.

    ``rows``: rows read (classified or skipped) by then; ``state``: what a resumed run starts from (JSON-safe).
    The first item a run hands `PartialOutput.write` is one: by then the rows a resumed run skips are checked.
    """

    rows: int
    state: dict[str, Any]


class PartialOutput:
    """The output of one run: stdout, or a partial file that becomes ``target`` on `commit`."""

    def __init__(self, claim: OutputClaim, model: str, settings: dict[str, Any], out_format: str | None = None) -> None:
        """``model``: the artifact's path, identified by content; ``settings``: the rest of what a resumed run
        must match (inputs, options, ...). ``out_format`` as asked (None: from the name, see `output_format`)."""
        self.target, self.stream = claim.target, sys.stdout
        self.fmt = output_format(self.target, out_format)
        self._resume_at: int | None = None
        self._fresh = True  # no earlier run's rows: write a header and record the first checkpoint
        self.checkpointed = 0  # rows read (classified or skipped) as of the last checkpoint, this run's or resumed
        self.fingerprint: dict[str, Any] = {}
        self.names = {
            "model": f"a different model (the content of {model} changed)",
            "columns": "different output columns",
            "label_thresholds": "different label thresholds (--label-threshold)",
        }
        if self.target is not None:
            options = {**settings.get("options", {}), "out_format": self.fmt}  # the format written must match too
            self.fingerprint = {"model": {"sha256": file_sha256(model)}, **settings, "options": options}
            assert claim.partial is not None  # a claim on a file names its partial file
            self.partial = claim.partial
            self.state_path = self.target.parent / f".{self.target.name}.partial.json"
            self.state_tmp = self.target.parent / f".{self.target.name}.partial.json.tmp"

    def open(self, resume: bool) -> dict[str, Any] | None:
        """Start writing; with ``resume``, return the last checkpoint's progress (None: starting afresh).

        A resumed partial file is not touched until `start`: the caller first checks that the inputs
        still begin with the bytes already classified, and a refused resume must leave the work as it was.
        """
        if self.target is None:
            return None
        self.target.parent.mkdir(parents=True, exist_ok=True)
        saved = self._saved_state() if resume else None
        if saved is not None:
            self._resume_at, self._fresh = saved["bytes"], False
            self.checkpointed = saved["progress"]["read"]  # the earlier run's rows: a failure must not lose them
            return saved["progress"]
        self._resume_at = None
        self.state_path.unlink(missing_ok=True)
        self.stream = open(self.partial, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
        return None

    def start(self) -> None:
        """Resuming: cut the partial file back to the last checkpoint and append from there (idempotent)."""
        if self.target is None or self._resume_at is None:
            return
        with open(self.partial, "r+b") as f:
            f.truncate(self._resume_at)
        self.stream = open(self.partial, "a", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
        self._resume_at = None

    def _saved_state(self) -> dict[str, Any] | None:
        if not (self.partial.is_file() and self.state_path.is_file()):
            return None
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            size = self.partial.stat().st_size
            ok = state["version"] == STATE_VERSION and 0 <= state["bytes"] <= size
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            raise InputError(
                f"cannot resume: {self.state_path} is damaged or does not match {self.partial}; "
                "run again without --resume to start over"
            )
        if state["fingerprint"] != self.fingerprint:
            changed = sorted(k for k in self.fingerprint if state["fingerprint"].get(k) != self.fingerprint[k])
            if "model" in changed:  # another task or label set: the model says it all, not what follows from it
                changed = [k for k in changed if k not in _FOLLOW_THE_MODEL]
            named = [self.names.get(k, f"different {k.replace('_', '-')}") for k in changed]
            raise InputError(
                f"cannot resume {self.target}: the partial output was made with {', '.join(named)}. "
                "Resume with the same model, inputs and options, or run without --resume to start over."
            )
        return state

    def checkpoint(self, progress: dict[str, Any]) -> None:
        """Make every row written so far durable and record ``progress`` as the resume point."""
        if self.target is None:
            self.stream.flush()
            return
        self.stream.flush()
        os.fsync(self.stream.fileno())
        state = {
            "version": STATE_VERSION,
            "fingerprint": self.fingerprint,
            "bytes": os.fstat(self.stream.fileno()).st_size,
            "progress": progress,
        }
        with open(self.state_tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(state))
            f.flush()
            os.fsync(f.fileno())
        os.replace(self.state_tmp, self.state_path)  # atomic: a reader sees the old record or the new, never half

    def write(
        self, items: Iterable[dict[str, Any] | Checkpoint], columns: list[str], separator: str = LABEL_SEPARATOR
    ) -> None:
        """Write every answered record, record each `Checkpoint`, then move the output into place.

        On failure the partial file is kept when it holds work worth resuming: after `InputChanged` (the work
        belongs to the old inputs), Ctrl-C or kill, or any failure after a checkpointed row; a run that fails
        before its first checkpointed row, or on a bad row (`InputError`: fixing it changes the input), leaves
        nothing behind.
        """
        try:
            self._write_all(iter(items), columns, separator)
        except InputChanged:
            self.close(keep=True)
            raise
        except InputError:
            self.close(keep=False)
            raise
        except BaseException as exc:
            self.close(keep=isinstance(exc, KeyboardInterrupt | SystemExit) or self.checkpointed > 0)
            raise

    def _write_all(self, items: Iterator[dict[str, Any] | Checkpoint], columns: list[str], separator: str) -> None:
        first = next(items)  # the first checkpoint: every row a resumed run skipped is checked by now
        assert isinstance(first, Checkpoint)
        self.start()  # only now may a resumed partial file be cut back to its checkpoint
        writer = RowWriter(self.stream, self.fmt, columns, header=self._fresh, separator=separator)
        if self._fresh:
            self.checkpoint(first.state)
        for item in items:
            if isinstance(item, Checkpoint):
                self.checkpoint(item.state)
                self.checkpointed = item.rows
            else:
                writer.write(item)
        self.commit()

    def commit(self) -> None:
        """Move the finished output into place and forget the resume state."""
        if self.target is None:
            self.stream.flush()
            return
        self.stream.flush()
        os.fsync(self.stream.fileno())
        self.stream.close()
        if self.target.is_file():  # --overwrite: the new output keeps the mode the user gave the old one
            os.chmod(self.partial, self.target.stat().st_mode & 0o7777)
        os.replace(self.partial, self.target)
        self._forget_state()

    def close(self, keep: bool) -> None:
        """After a failure: keep the partial file for ``--resume`` or remove it."""
        if self.target is None:
            return
        if self.stream is not sys.stdout:  # a refused resume never opened the partial file
            self.stream.close()
        if not keep:
            self.partial.unlink(missing_ok=True)
            self._forget_state()

    def _forget_state(self) -> None:
        self.state_path.unlink(missing_ok=True)
        self.state_tmp.unlink(missing_ok=True)


def output_format(out: str | os.PathLike[str] | None, forced: str | None = None) -> str:
    """``jsonl`` unless asked or the output name ends in .csv/.tsv."""
    if forced:
        return forced
    suffix = Path(out).suffix.lower() if out and str(out) != "-" else ""
    return suffix[1:] if suffix in TABLE_FORMATS else "jsonl"
