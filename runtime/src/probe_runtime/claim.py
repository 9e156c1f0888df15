"""The output a run claims before any work: checked (nothing of the user's is destroyed), then locked.

`claim_output` is the first step of every ``probe-runtime classify`` run, local or on Ray: it refuses an
output that is, is inside or contains the model or an input, that cannot be written, or that already exists
and is not a previous output of the same kind (or is one, without ``--overwrite``); then it holds the
output's lock (`probe_runtime.guard.output_lock`) until the block ends, so two runs never write the same
output. What it yields, an `OutputClaim`, names everything the lock covers: the output, and for a local
run the partial file beside it, where an interrupted run's rows wait for ``--resume``.

A previous output is recognised by its content: a prediction file (`is_classify_output`) by its first line,
a ``--ray`` directory (`is_ray_output`) by the `SUMMARY_FILE` it holds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from .guard import output_lock, refuse_existing_output, refuse_output_over_inputs, refuse_unwritable_output

__all__ = [
    "LABELS_COLUMN",
    "PREDICTION_COLUMNS",
    "SUMMARY_FILE",
    "OutputClaim",
    "OutputKind",
    "check_output",
    "claim_output",
    "is_classify_output",
    "is_ray_output",
    "partial_path",
    "writes_file",
]

PREDICTION_COLUMNS = ["id", "label", "score"]  # every prediction file starts with these
LABELS_COLUMN = "labels"  # a multi-label file's fourth column: the labels that pass their thresholds
SUMMARY_FILE = "_probe_summary.json"  # in a --ray output directory; a leading underscore: Parquet/Hive readers skip it
_FIRST_LINE_LIMIT = 1 << 20  # a header or first record longer than this is not one of ours


class OutputKind(Enum):
    """What a run writes, and so what an existing output must be before ``--overwrite`` may replace it."""

    FILE = "prediction file"  # a local run: one JSONL/CSV/TSV file
    DIRECTORY = "prediction directory"  # a --ray run: a directory of part files


def writes_file(out: str | None) -> bool:
    """Does ``out`` name a file (not stdout, which is None or ``-``)?"""
    return bool(out) and out != "-"


def partial_path(target: str | os.PathLike[str]) -> Path:
    """Where the rows of an unfinished output ``target`` are kept (``.NAME.partial`` beside it)."""
    path = Path(target)
    return path.parent / f".{path.name}.partial"


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


def is_ray_output(path: Path) -> bool:
    """Is ``path`` a directory an earlier ``--ray`` run wrote (the only kind ``--overwrite`` may replace)?"""
    return path.is_dir() and (path / SUMMARY_FILE).is_file()


_RECOGNISE = {OutputKind.FILE: is_classify_output, OutputKind.DIRECTORY: is_ray_output}


def check_output(
    out: str, model: str, inputs: Sequence[str], overwrite: bool = False, kind: OutputKind = OutputKind.FILE
) -> None:
    """Refuse (`UsageError`) an ``out`` that would destroy something or cannot be written, before any work."""
    refuse_output_over_inputs(out, {"model": model})
    for path in inputs:
        refuse_output_over_inputs(out, {"input": path})
    refuse_unwritable_output(out)
    refuse_existing_output(out, overwrite=overwrite, is_own_kind=_RECOGNISE[kind], kind=kind.value)


@dataclass(frozen=True)
class OutputClaim:
    """A run's output, checked and locked: ``target`` None is stdout (nothing to check, lock or keep);
    ``partial`` is where a local run's rows wait until the output is complete."""

    target: Path | None
    partial: Path | None

    @classmethod
    def of(cls, out: str | None) -> OutputClaim:
        """The claim on ``out`` as it names it (the caller checked and locked it already)."""
        if not (out and writes_file(out)):
            return cls(None, None)
        return cls(Path(out), partial_path(out))


@contextmanager
def claim_output(
    out: str | None,
    model: str,
    inputs: Sequence[str],
    overwrite: bool = False,
    kind: OutputKind = OutputKind.FILE,
) -> Iterator[OutputClaim]:
    """`check_output`, then hold the output's lock for the block (stdout needs neither): a run's first step."""
    claim = OutputClaim.of(out)
    if out is None or claim.target is None:
        yield claim
        return
    check_output(out, model, inputs, overwrite, kind)  # messages name ``out`` as the user spelled it
    with output_lock(out):
        yield claim
