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
`is_classify_output` recognises a previous output, the only kind of file ``--overwrite`` may replace, and
`check_output` refuses, before any work, an output that would destroy something or cannot be written.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import IO, Any

from .errors import InputError
from .files import detect_format
from .guard import output_lock, refuse_existing_output, refuse_output_over_inputs, refuse_unwritable_output

__all__ = [
    "PREDICTION_COLUMNS",
    "PartialOutput",
    "RowWriter",
    "check_output",
    "claim_output",
    "file_sha256",
    "is_classify_output",
    "output_format",
    "output_lock_for",
    "partial_path",
    "writes_file",
]

STATE_VERSION = 2  # 2: the model and inputs are identified by content (sha256), not size and mtime
PREDICTION_COLUMNS = ["id", "label", "score"]
_FIRST_LINE_LIMIT = 1 << 20  # a header or first record longer than this is not one of ours


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks (the model: what a resumed run must match)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def is_classify_output(path: Path) -> bool:
    """Is ``path`` a previous `classify` output (the only kind ``--overwrite`` may replace)?

    Recognised by its first line: a JSON object whose first keys are id, label, score, or a CSV/TSV
    header starting id,label,score. An empty file holds no byte to lose, so it counts as one too.
    """
    if not path.is_file():
        return False
    with open(path, "rb") as stream:
        first = stream.readline(_FIRST_LINE_LIMIT)
    if not first:
        return True
    try:
        line = first.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return False
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except ValueError:
            return False
        return isinstance(record, dict) and list(record)[:3] == PREDICTION_COLUMNS
    return any(line.split(sep)[:3] == PREDICTION_COLUMNS for sep in (",", "\t"))


class RowWriter:
    """Writes prediction records as JSONL or CSV/TSV with a fixed set of columns."""

    def __init__(self, stream: IO[str], fmt: str, columns: list[str], header: bool = True):
        self.stream = stream
        self.columns = columns
        self._csv = None
        if fmt in ("csv", "tsv"):
            self._csv = csv.writer(stream, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
            if header:
                self._csv.writerow(columns)

    def write(self, record: dict[str, Any]) -> None:
        if self._csv is not None:
            self._csv.writerow([record.get(c, "") for c in self.columns])
        else:
            self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")


class PartialOutput:
    """The output of one run: stdout, or a partial file that becomes ``target`` on `commit`."""

    def __init__(self, target: str | None, fingerprint: dict[str, Any], names: dict[str, str] | None = None):
        """``names``: how an error says that a fingerprint entry differs (default: "different KEY")."""
        self.target = Path(target) if target and target != "-" else None
        self.fingerprint = fingerprint
        self.names = names or {}
        self.stream: IO[str] = sys.stdout
        self._resume_at: int | None = None
        if self.target is not None:
            self.partial = partial_path(self.target)
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
            self._resume_at = saved["bytes"]
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


def writes_file(out: str | None) -> bool:
    """Does ``out`` name a file (not stdout, which is None or ``-``)?"""
    return bool(out) and out != "-"


def check_output(out: str, model: str, inputs: Sequence[str], overwrite: bool = False) -> None:
    """Refuse (`UsageError`) an ``out`` that would destroy something or cannot be written, before any work."""
    refuse_output_over_inputs(out, {"model": model})
    for path in inputs:
        refuse_output_over_inputs(out, {"input": path})
    refuse_unwritable_output(out)
    refuse_existing_output(out, overwrite=overwrite, is_own_kind=is_classify_output, kind="prediction file")


def output_lock_for(out: str | None) -> AbstractContextManager[None]:
    """One writer per output: the lock also covers the partial file and the resume state beside it."""
    return output_lock(out) if out and writes_file(out) else nullcontext()


@contextmanager
def claim_output(out: str | None, model: str, inputs: Sequence[str], overwrite: bool = False) -> Iterator[None]:
    """`check_output`, then hold the output's lock for the block (stdout needs neither): a run's first step."""
    if not (out and writes_file(out)):
        yield
        return
    check_output(out, model, inputs, overwrite)
    with output_lock(out):
        yield


def partial_path(target: str | os.PathLike[str]) -> Path:
    """Where the rows of an unfinished output ``target`` are kept (``.NAME.partial`` beside it)."""
    path = Path(target)
    return path.parent / f".{path.name}.partial"


def output_format(out: str | None, forced: str | None = None) -> str:
    """``jsonl`` unless asked or the output name ends in .csv/.tsv."""
    if forced:
        return forced
    detected = detect_format(out) if out and out != "-" else "jsonl"
    return detected if detected in ("csv", "tsv") else "jsonl"
