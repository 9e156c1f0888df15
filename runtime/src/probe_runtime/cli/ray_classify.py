"""`probe-runtime classify MODEL INPUT… --ray --out DIR`: the same classification, on a Ray cluster.

The rows are read and labelled on the cluster (`probe_runtime.ray`); the driver (this process) receives
the answers in input order, counts them for the summary line a local run prints, and writes them as
Parquet (or JSONL/CSV/TSV) part files into a staging directory beside DIR that becomes DIR only when
complete (`probe_runtime.atomic.atomic_dir`). Writing on the driver costs little next to inference
(a few small columns per row) and is what makes the summary exact and the output ordered; an error in
any input stops the run with the local run's one-line message and leaves nothing under DIR.

DIR is guarded like a local ``--out`` (`probe_runtime.guard`): it may not be, be inside, or contain the
model or an input; an existing DIR is replaced only with ``--overwrite`` and only if an earlier
``--ray`` run wrote it (it holds `SUMMARY_FILE`); two runs cannot write the same DIR at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from ..atomic import atomic_dir
from ..classifier import Classifier
from ..classify_files import Summary
from ..cli_support import positive_int
from ..errors import InputError, UsageError
from ..guard import output_lock, refuse_existing_output, refuse_output_over_inputs, refuse_unwritable_output
from ..output import PREDICTION_COLUMNS, RowWriter
from .classify_request import ClassifyRequest
from .report import describe

__all__ = ["RAY_FORMATS", "SUMMARY_FILE", "add_ray_options", "cmd_classify_ray", "is_ray_output"]

SUMMARY_FILE = "_probe_summary.json"  # a leading underscore: Parquet/Hive readers of DIR skip it
RAY_FORMATS = ("parquet", "jsonl", "csv", "tsv")
ROWS_PER_FILE = 1_000_000  # rows per part file: files small enough to load one at a time downstream


def add_ray_options(p: argparse.ArgumentParser) -> None:
    """``--ray``, ``--address`` and ``--actors`` on ``classify``."""
    group = p.add_argument_group('scale-out on Ray (pip install "probe-runtime[ray]")')
    group.add_argument(
        "--ray",
        action="store_true",
        help="classify on a Ray cluster; --out names a DIRECTORY of part files (default format parquet)",
    )
    group.add_argument(
        "--address",
        help="with --ray: the cluster to join (HOST:6379, ray://HOST:10001 or auto; default: $RAY_ADDRESS, else "
        "a cluster started on this machine, else a new local one)",
    )
    group.add_argument(
        "--actors",
        type=positive_int,
        help="with --ray: model replicas, each reserving --threads CPUs (default 1) and loading the model once "
        "(default: as many as the cluster has CPUs for)",
    )


def is_ray_output(path: Path) -> bool:
    """Is ``path`` a directory an earlier ``--ray`` run wrote (the only kind ``--overwrite`` may replace)?"""
    return path.is_dir() and (path / SUMMARY_FILE).is_file()


def _check_usage(request: ClassifyRequest) -> None:
    def fail(message: str) -> None:
        raise UsageError(message)

    options = request.options
    if request.ray is None or not request.ray.ray:
        fail("--address and --actors need --ray")
    if not request.out or request.out == "-":
        fail("--ray needs --out DIR (a directory for the part files)")
    if "-" in request.inputs:
        fail("--ray needs file inputs: stdin cannot be read on a cluster")
    if options.resume:
        fail("--resume is not available with --ray; an interrupted run leaves nothing under --out: run it again")
    if options.top_k:
        fail("--top-k is not available with --ray yet; --all-scores writes every label's score")
    if options.out_format not in (None, *RAY_FORMATS):
        fail(f"--format {options.out_format} is not available with --ray; choose one of {', '.join(RAY_FORMATS)}")


def _check_output(out: str, request: ClassifyRequest) -> None:
    refuse_output_over_inputs(out, {"model": request.model})
    for path in request.inputs:
        refuse_output_over_inputs(out, {"input": path})
    refuse_unwritable_output(out)
    overwrite = request.options.overwrite
    refuse_existing_output(out, overwrite=overwrite, is_own_kind=is_ray_output, kind="prediction directory")
    for path in request.inputs:
        if not Path(path).exists():
            raise InputError(f"input file not found: {path}")


def cmd_classify_ray(request: ClassifyRequest) -> int:
    _check_usage(request)
    assert request.out is not None and request.ray is not None  # `_check_usage` made sure
    out, options = request.out, request.options
    _check_output(out, request)
    try:
        from .. import ray as probe_ray
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    model = probe_ray.ModelSpec(str(Path(request.model).resolve()), request.load)
    labels = _checked_labels(model)
    read = probe_ray.ReadSpec(options.text_column, options.id_column, options.input_format, options.errors)
    with output_lock(out), _cluster(request.ray.address, request.ray.verbose):
        dataset = probe_ray.label_files(
            list(request.inputs), model, read, actors=request.ray.actors, all_scores=options.all_scores
        )
        try:
            batches = dataset.iter_batches(batch_format="pyarrow", batch_size=None)
            summary = _write(batches, out, options.out_format or "parquet", _columns(labels, options.all_scores))
        except KeyboardInterrupt:
            print("probe-runtime: interrupted; nothing was written under --out; run it again", file=sys.stderr)
            return 130
    print(f"{describe(summary, labels)} → {out}", file=sys.stderr)
    return 0


def _columns(labels: list[Any], all_scores: bool) -> list[str]:
    return [*PREDICTION_COLUMNS, *([f"score_{label}" for label in labels] if all_scores else [])]


def _checked_labels(model: Any) -> list[Any]:
    """Open the artifact here first: a bad file or option fails in a second, before a cluster starts."""
    clf: Classifier = model.load()
    return clf.labels


@contextmanager
def _cluster(address: str | None, verbose: bool) -> Iterator[None]:
    """Join (or start) a cluster for the run, ordered output, no progress chatter unless on a terminal."""
    import ray
    import ray.data

    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, configure_logging=False, log_to_driver=verbose)
    if not verbose:  # Ray Data's progress reports (and its notice that bars are off) are not ours to print
        logging.getLogger("ray.data").setLevel(logging.ERROR)
    context = ray.data.DataContext.get_current()
    saved = (context.execution_options.preserve_order, context.enable_progress_bars)
    context.execution_options.preserve_order = True  # answers come back in input order, as locally
    context.enable_progress_bars = sys.stderr.isatty()
    try:
        yield
    finally:
        context.execution_options.preserve_order, context.enable_progress_bars = saved
        if started:
            ray.shutdown()


def _write(batches: Iterable[Any], out: str, fmt: str, columns: list[str]) -> Summary:
    """Count and write every batch into a staging directory that becomes ``out`` at the end."""
    from .. import ray as probe_ray

    summary = Summary()
    with atomic_dir(out) as staging:
        with _Parts(staging, fmt, columns) as parts:
            for batch in batches:
                errors = [e for e in batch[probe_ray.ERROR_COLUMN].to_pylist() if e]
                if errors:
                    raise InputError(errors[0])
                reasons = batch[probe_ray.SKIPPED].to_pylist()
                summary.read += batch.num_rows
                summary.skipped.update(r for r in reasons if r is not None)
                classified = batch.filter([r is None for r in reasons]).select(columns)
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

    def __init__(self, directory: Path, fmt: str, columns: list[str]) -> None:
        self.directory, self.fmt, self.columns = directory, fmt, columns
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
        for name in self.columns[2:]:  # score and score_LABEL
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
        self._writer = RowWriter(self._text, self.fmt, self.columns)

    def _close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._text is not None:
            self._text.close()
        self._parquet = self._text = self._writer = None
