"""What the file reader has consumed: bytes for progress, and a sha256 per input, which is how a resumed
``probe-runtime classify`` knows an input did not change (`probe_runtime.files.read_rows` feeds it)."""

from __future__ import annotations

import hashlib
from typing import Any

from .errors import InputError

__all__ = ["ByteCounter", "InputChanged"]


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
