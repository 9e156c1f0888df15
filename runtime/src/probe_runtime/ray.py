"""Classify a corpus on a Ray cluster with the same artifact, the same text handling and the same answers.

Ray Data is the engine the field uses for batch inference over many machines; this module adds no
distribution layer of its own, only what makes the cluster's answers a local run's answers:

- Files are read on the cluster by `probe_runtime.files.read_rows` (one task per input file), so rows,
  ids (line numbers, ``PATH:line`` with several inputs, the file path for a directory), bad bytes
  (``errors``) and skipped rows mean exactly what they mean to ``probe-runtime classify``.
- Each actor loads the artifact ONCE from its path (never a pickled session: onnxruntime sessions do
  not travel) with `Classifier.load`, with as many onnxruntime threads as CPUs the actor reserved; Ray's
  ``OMP_NUM_THREADS`` does not reach onnxruntime, so the count is passed explicitly.
- Batches are answered by `Classifier.classify`, whose answers do not depend on the batch for a
  batch-independent artifact (the export's default), so a row's label and score equal a local run's.

Empty and whitespace-only texts (and undecodable rows under ``errors="skip"``) are not classified and,
as locally, not returned; ``keep_skipped=True`` keeps them with a ``skipped`` reason and no label, which
is how the CLI counts them. Ray is an optional extra: importing `probe_runtime` never imports this
module, and importing it without Ray raises an ImportError that names the install command.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from .claim import LABELS_COLUMN
from .classifier import Classifier
from .classify_files import EMPTY, prefixes_ids
from .errors import InputError, ProbeError
from .files import input_format, read_rows
from .load_options import LoadOptions

INSTALL = 'pip install "probe-runtime[ray]"'

try:
    import pyarrow as pa
    import ray
    import ray.data
except ImportError as exc:  # the optional extra is missing: say how to get it
    raise ImportError(f"probe_runtime.ray needs Ray Data, which is not installed here: {INSTALL}") from exc

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "ERROR_COLUMN",
    "INSTALL",
    "SKIPPED",
    "ModelSpec",
    "ReadSpec",
    "classify_dataset",
    "cluster",
    "default_actors",
    "label_files",
    "read_files",
]

DEFAULT_BATCH_ROWS = 256  # rows per `classify` call in an actor
BLOCK_BYTES = 1 << 20  # the reader's blocks: the unit Ray hands to an actor (see `read_files`)
SKIPPED = "skipped"  # the column `keep_skipped` adds: why a row was not classified (None if it was)
ERROR_COLUMN = "_probe_error"  # a reader's error travelling to the driver as a row (see `read_files`)


@dataclass(frozen=True)
class ModelSpec:
    """What an actor needs to load the artifact itself: its path and the load options, never a session.

    ``options.threads`` is also the CPUs each actor reserves (None: 1). Each actor checks the options against
    its own machine when it loads (cores, providers), and runs the file's canaries on its own CPU.
    """

    path: str
    options: LoadOptions = field(default_factory=lambda: LoadOptions(threads=1))

    @property
    def threads(self) -> int:
        return self.options.threads or 1

    def load(self) -> Classifier:
        return Classifier.load(self.path, options=replace(self.options, threads=self.threads))  # as many as it reserved


@dataclass(frozen=True)
class ReadSpec:
    """How input files are read: the options of ``probe-runtime classify`` that `read_rows` takes."""

    text_column: str = "text"
    id_column: str | None = None
    input_format: str | None = None
    errors: str = "strict"
    rows_per_block: int = DEFAULT_BATCH_ROWS


@dataclass(frozen=True)
class _FileInput:
    shown: str  # the path as the user gave it: ids and messages use it, as a local run does
    absolute: str  # what a worker opens (its working directory is not the driver's)
    prefix: bool  # ids are "PATH:line": `classify_files.prefixes_ids`, the local run's rule


def read_files(paths: str | Sequence[str], spec: ReadSpec = ReadSpec()) -> ray.data.Dataset:
    """A dataset of the rows of ``paths`` (text, CSV/TSV, JSONL, directories of .txt), read on the cluster.

    Columns: ``id`` and the text column, plus internal columns saying which rows are skipped and what
    error stopped a file (an error travels as a row so that a driver can report it as the one-line
    `InputError` a local run gives; `classify_dataset` raises it on the worker instead). Every path must
    be readable at the same absolute path on every node (a shared filesystem or object-store mount).
    """
    names = [paths] if isinstance(paths, str) else list(paths)
    if not names or "-" in names:
        raise InputError("read_files needs file paths (stdin cannot be read on a cluster)")
    for name in names:
        if not Path(name).exists():
            raise InputError(f"input file not found: {name}")
    items = [{"shown": n, "absolute": os.path.abspath(n), "prefix": prefixes_ids(n, names)} for n in names]
    files = ray.data.from_items(items, override_num_blocks=len(items))
    # Ray gathers a task's output into blocks of up to 128 MiB, and a block goes to ONE actor: a single
    # big file would keep one actor busy and the others idle. Smaller blocks (this dataset's own context
    # copy, not the process-wide one) spread one file over every actor.
    files.context.target_max_block_size = BLOCK_BYTES
    # One task per file, reserving no CPU: reading is cheap next to inference, and a reader that waited
    # for a CPU the actors hold would never run.
    return files.map_batches(partial(_read_blocks, spec=spec), batch_size=1, batch_format="pyarrow", num_cpus=0)


def _read_blocks(batch: pa.Table, spec: ReadSpec) -> Iterator[pa.Table]:
    for item in batch.to_pylist():
        yield from _file_blocks(_FileInput(item["shown"], item["absolute"], item["prefix"]), spec)


def _file_blocks(source: _FileInput, spec: ReadSpec) -> Iterator[pa.Table]:
    """The rows of one file as tables of ``spec.rows_per_block`` rows; an error ends the file as an error row."""
    rows: list[dict[str, Any]] = []
    try:
        for row in read_rows(
            source.absolute, spec.text_column, spec.id_column, errors=spec.errors, fmt=spec.input_format
        ):
            rows.append({"id": _shown_id(source, row.id), spec.text_column: row.text, SKIPPED: row.skip})
            if len(rows) >= spec.rows_per_block:
                yield _table(rows, spec.text_column)
                rows = []
    except ProbeError as exc:
        yield from [_table(rows, spec.text_column)] if rows else []
        message = str(exc).replace(source.absolute, source.shown)
        yield _table([{"id": None, spec.text_column: "", SKIPPED: None, ERROR_COLUMN: message}], spec.text_column)
        return
    if rows:
        yield _table(rows, spec.text_column)


def _shown_id(source: _FileInput, row_id: Any) -> Any:
    """The id a local run reports: ``PATH:line`` with several inputs, a directory's files under the path given."""
    if input_format(source.absolute) == "dir":
        return str(Path(source.shown) / Path(row_id).relative_to(source.absolute))
    return f"{source.shown}:{row_id}" if source.prefix else row_id


def _table(rows: list[dict[str, Any]], text_column: str) -> pa.Table:
    columns = ["id", text_column, SKIPPED, ERROR_COLUMN]
    return pa.table({c: pa.array([r.get(c) for r in rows], type=_type(c, text_column)) for c in columns})


def _type(column: str, text_column: str) -> pa.DataType | None:
    """Fixed types where a block of all-null values would otherwise be typed ``null`` and clash with others."""
    return pa.string() if column in (text_column, SKIPPED, ERROR_COLUMN) else None


@dataclass(frozen=True)
class _Answers:
    """How the actor answers: which column holds the text, and what the output keeps."""

    text_column: str = "text"
    all_scores: bool = False
    keep_skipped: bool = False
    carry_errors: bool = False  # the CLI's driver raises a reader's error itself (one line, no traceback)


class _Labeler:
    """One Ray actor: loads the artifact once, then labels batch after batch (a pyarrow table each)."""

    def __init__(self, model: ModelSpec, answers: _Answers) -> None:
        self.clf = model.load()
        self.answers = answers
        self._label_type = pa.array(self.clf.classes_.tolist()).type  # the shown labels: strings, or integers

    def __call__(self, batch: pa.Table) -> pa.Table:
        answers = self.answers
        errors = _column(batch, ERROR_COLUMN)
        failed = next((e for e in errors if e), None)
        if failed and not answers.carry_errors:
            raise InputError(failed)
        texts = batch[answers.text_column].to_pylist()
        reasons = [_skip_reason(t, s, e) for t, s, e in zip(texts, _column(batch, SKIPPED), errors)]
        texts = [t for t, r in zip(texts, reasons) if r is None]
        predictions = iter(self.clf.classify(texts) if texts else [])
        answered = [next(predictions) if r is None else None for r in reasons]
        out = batch.drop_columns([c for c in (SKIPPED, ERROR_COLUMN) if c in batch.column_names])
        out = out.append_column("label", pa.array([p.label if p else None for p in answered]))
        out = out.append_column("score", pa.array([p.score if p else None for p in answered], type=pa.float64()))
        if self.clf.multi_label:  # typed: a batch whose sets are all empty must not make a list<null> column
            sets = [list(p.labels or ()) if p else None for p in answered]
            out = out.append_column(LABELS_COLUMN, pa.array(sets, type=pa.list_(self._label_type)))
        if answers.all_scores:
            for label in self.clf.labels:
                values = [p.scores[label] if p else None for p in answered]
                out = out.append_column(f"score_{label}", pa.array(values, type=pa.float64()))
        if answers.keep_skipped:
            out = out.append_column(SKIPPED, pa.array(reasons, type=pa.string()))
            if answers.carry_errors:
                out = out.append_column(ERROR_COLUMN, pa.array(errors, type=pa.string()))
            return out
        return out.filter(pa.array([r is None for r in reasons]))


def _column(batch: pa.Table, name: str) -> list[Any]:
    return batch[name].to_pylist() if name in batch.column_names else [None] * batch.num_rows


def _skip_reason(text: Any, skip: str | None, error: str | None) -> str | None:
    """Why a row is not classified: the reader's reason, empty (as `classify_files` counts it), or an error."""
    if error:
        return "error"
    if skip:
        return skip
    return None if isinstance(text, str) and text.strip() else EMPTY


def default_actors(cpus_per_actor: int) -> int:
    """As many actors as the cluster has CPUs for (at least one)."""
    if not ray.is_initialized():
        ray.init()
    return max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_actor))


def classify_dataset(
    data: ray.data.Dataset | str | Sequence[str],
    artifact_path: str | os.PathLike[str],
    *,
    actors: int | None = None,
    cpus_per_actor: int = 1,
    batch_size: int = DEFAULT_BATCH_ROWS,
    all_scores: bool = False,
    text_column: str = "text",
    keep_skipped: bool = False,
    read: ReadSpec | None = None,
    model: ModelSpec | None = None,
) -> ray.data.Dataset:
    """``data`` with ``label`` and ``score`` columns (and ``score_LABEL`` for every class with ``all_scores``);
    a multi-label file adds ``labels``, the list of labels passing their thresholds (`Prediction.labels`).

    ``data``: a `ray.data.Dataset` with a ``text_column`` (every other column, an id say, is kept), or
    paths read as ``probe-runtime classify`` reads them (`read_files`; ``read`` sets its options; the
    result has ``id`` and ``text_column``). ``actors`` (default: as many as the cluster has CPUs for)
    each reserve ``cpus_per_actor`` CPUs and run onnxruntime on that many threads; ``batch_size`` rows
    go to the model at a time. The artifact must be readable at ``artifact_path`` on every node; each
    actor loads it once (``model`` sets the other load options: long-text policy, providers). Lazy, like every
    Ray dataset: nothing runs until the result is consumed or written. A block goes to one actor, so a
    dataset of fewer blocks than actors keeps some idle: ``repartition`` it first.
    """
    if isinstance(data, ray.data.Dataset):
        dataset = data
    else:
        dataset = read_files(data, read or ReadSpec(text_column=text_column, rows_per_block=batch_size))
        text_column = (read or ReadSpec(text_column=text_column)).text_column
    options = replace(model.options if model else LoadOptions(), threads=cpus_per_actor)
    spec = ModelSpec(os.path.abspath(artifact_path), options)
    return _labelled(dataset, spec, _Answers(text_column, all_scores, keep_skipped), actors, batch_size)


def _labelled(
    dataset: ray.data.Dataset, model: ModelSpec, answers: _Answers, actors: int | None, batch_size: int
) -> ray.data.Dataset:
    """The pool of ``actors`` actors over ``dataset``, each reserving as many CPUs as it runs threads."""
    threads = model.threads
    count = actors if actors is not None else default_actors(threads)
    return dataset.map_batches(
        _Labeler,
        fn_constructor_kwargs={"model": model, "answers": answers},
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=count),
        num_cpus=threads,
    )


def label_files(
    paths: Sequence[str],
    model: ModelSpec,
    read: ReadSpec,
    *,
    actors: int | None = None,
    all_scores: bool = False,
) -> ray.data.Dataset:
    """What ``probe-runtime classify --ray`` consumes: every row read, skipped ones with their ``skipped``
    reason and no label, and a reader's error as a row with its message in `ERROR_COLUMN` (the driver
    raises it, so the user sees the local run's one line rather than a remote traceback)."""
    answers = _Answers(read.text_column, all_scores, keep_skipped=True, carry_errors=True)
    return _labelled(read_files(paths, read), model, answers, actors, read.rows_per_block)


@contextmanager
def cluster(address: str | None, verbose: bool = False, progress_bars: bool = False) -> Iterator[None]:
    """Join (or start) a cluster for the block, answers in input order; Ray's logs reach the terminal only when
    ``verbose``, Ray Data's progress bars only with ``progress_bars``. A cluster this started is shut down after."""
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, configure_logging=False, log_to_driver=verbose)
    if not verbose:  # Ray Data's progress reports (and its notice that bars are off) are not ours to print
        logging.getLogger("ray.data").setLevel(logging.ERROR)
    context = ray.data.DataContext.get_current()
    saved = (context.execution_options.preserve_order, context.enable_progress_bars)
    context.execution_options.preserve_order = True  # answers come back in input order, as locally
    context.enable_progress_bars = progress_bars
    try:
        yield
    finally:
        context.execution_options.preserve_order, context.enable_progress_bars = saved
        if started:
            ray.shutdown()
