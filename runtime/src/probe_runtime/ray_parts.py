"""The output of a ``--ray`` run: Parquet (or JSONL/CSV/TSV) part files written on the driver, in input order.

The driver receives the cluster's answers (`probe_runtime.ray.label_files`) batch by batch, counts them for the
summary a local run prints, and writes them into a staging directory beside DIR that becomes DIR only when
complete (`probe_runtime.atomic.atomic_dir`), with `SUMMARY_FILE` recording the format, the part files and the
counts (which is also how a later ``--overwrite`` recognises DIR, see `probe_runtime.claim.is_ray_output`).
Writing on the driver costs little next to inference (a few small columns per row) and is what makes the
summary exact and the output ordered; a reader's error in any input stops the run and leaves nothing under DIR.
Like `probe_runtime.ray`, importing this module needs Ray Data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from .answering import Summary
from .atomic import atomic_dir
from .claim import LABELS_COLUMN, PREDICTION_COLUMNS, SUMMARY_FILE
from .errors import InputError
from .output import LABEL_SEPARATOR, RowWriter
from .ray import ERROR_COLUMN, SKIPPED

__all__ = ["ROWS_PER_FILE", "columns", "write_parts"]

ROWS_PER_FILE = 1_000_000  # rows per part file: files small enough to load one at a time downstream


def columns(labels: list[Any], all_scores: bool, multi_label: bool = False) -> list[str]:
    """id, label, score, a multi-label file's labels, and with ``all_scores`` every label's score, as a local
    run writes them."""
    sets = [LABELS_COLUMN] if multi_label else []
    return [*PREDICTION_COLUMNS, *sets, *([f"score_{label}" for label in labels] if all_scores else [])]


def write_parts(
    batches: Iterable[Any], out: str, fmt: str, columns: list[str], separator: str = LABEL_SEPARATOR
) -> Summary:
    """Count and write every batch into a staging directory that becomes ``out`` at the end (``separator``:
    between the labels of a CSV/TSV cell, as `probe_runtime.output.label_separator` chose it)."""
    summary = Summary(multi_label=LABELS_COLUMN in columns)
    with atomic_dir(out) as staging:
        with _Parts(staging, fmt, columns, separator) as parts:
            for batch in batches:
                errors = [e for e in batch[ERROR_COLUMN].to_pylist() if e]
                if errors:
                    raise InputError(errors[0])
                reasons = batch[SKIPPED].to_pylist()
                summary.read += batch.num_rows
                summary.skipped.update(r for r in reasons if r is not None)
                classified = batch.filter([r is None for r in reasons]).select(columns)
                if summary.multi_label:
                    summary.count_sets(classified[LABELS_COLUMN].to_pylist())
                else:
                    summary.classified += classified.num_rows
                    summary.labels.update(classified["label"].to_pylist())
                parts.write(classified)
        record = {
            "format": fmt,
            "files": parts.names,
            **summary.to_progress(),
        }
        (staging / SUMMARY_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return summary


class _Parts:
    """Part files ``part-00000.EXT``… of at most `ROWS_PER_FILE` rows, scores rounded as a local run writes
    them (6 decimals); JSONL/CSV/TSV through the local run's `RowWriter`, so each line reads the same."""

    def __init__(self, directory: Path, fmt: str, columns: list[str], separator: str) -> None:
        self.directory, self.fmt, self.columns, self.separator = directory, fmt, columns, separator
        self.names: list[str] = []
        self._rows = 0
        self._parquet: Any = None
        self._text: IO[str] | None = None
        self._writer: RowWriter | None = None

    def __enter__(self) -> _Parts:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close()

    def write(self, table: Any) -> None:
        import pyarrow.compute as pc

        if table.num_rows == 0:
            return
        for name in [c for c in self.columns if c.startswith("score")]:  # score and score_LABEL
            table = table.set_column(table.column_names.index(name), name, pc.round(table[name], 6))
        if (self._parquet is None and self._text is None) or self._rows >= ROWS_PER_FILE:
            self._next_file(table.schema)
        self._rows += table.num_rows
        if self._parquet is not None:
            self._parquet.write_table(table.cast(self._parquet.schema))
            return
        assert self._writer is not None
        for record in table.to_pylist():
            self._writer.write(record)

    def _next_file(self, schema: Any) -> None:
        import pyarrow.parquet as pq

        self._close()
        name = f"part-{len(self.names):05d}.{self.fmt}"
        self.names.append(name)
        self._rows = 0
        if self.fmt == "parquet":
            self._parquet = pq.ParquetWriter(self.directory / name, schema)
            return
        self._text = open(self.directory / name, "w", encoding="utf-8", newline="")  # noqa: SIM115 (closed by _close)
        self._writer = RowWriter(self._text, self.fmt, self.columns, separator=self.separator)

    def _close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._text is not None:
            self._text.close()
        self._parquet = self._text = self._writer = None
