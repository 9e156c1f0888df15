"""Label every text of one or more files, streaming, resumable, nothing lost (the engine of `probe-runtime classify`).

A run is three stages, each handing the next typed records one way: the reader
(`probe_runtime.files.read_inputs`) yields rows, `probe_runtime.answering.Answers` pairs them with
`Classifier.classify_stream`'s predictions (in chunks of ``window_rows`` texts; memory depends on the chunk,
never on the file) and yields records in input order with a checkpoint wherever every row read has been
written, and `probe_runtime.output.PartialOutput` writes them, so the output appears under its name only
when complete and an interrupted run can be resumed exactly. This module never prints: progress goes to an
optional callback, the result is a `Summary`.

Before any work, the output is claimed (`probe_runtime.claim`): an ``--out`` that is, is inside or
contains the model or an input, lies under a file or in an unwritable place, or already exists and is
not a previous prediction file (or is one, without ``--overwrite``) is a usage error; a second run
writing the same ``--out`` is refused at once by a lock that covers the output, its partial file and
its resume state. ``--resume`` identifies the model and the inputs by content: the model's sha256, and
a sha256 of each input's consumed bytes recorded at every checkpoint and checked again while the rows
already done are skipped, so an in-place edit is refused (naming the file) instead of mixing two runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .answering import EMPTY, Answers, Progress, ProgressCallback, Summary
from .claim import OutputClaim, check_output, claim_output, writes_file
from .classifier import DEFAULT_CHUNK_SIZE, Classifier
from .errors import InputError
from .files import ByteCounter, input_size, prefixes_ids, read_inputs
from .output import PartialOutput, label_separator, output_format

__all__ = [
    "EMPTY",
    "WINDOW_ROWS",
    "ClassifyOptions",
    "Progress",
    "Summary",
    "check_output",
    "classify_claimed",
    "classify_files",
    "output_format",
    "prefixes_ids",
    "writes_file",
]

WINDOW_ROWS = DEFAULT_CHUNK_SIZE  # texts per chunk of the stream, and so between checkpoints


@dataclass(frozen=True)
class ClassifyOptions:
    """How inputs are read and outputs written (everything except the model and the paths)."""

    text_column: str = "text"
    id_column: str | None = None
    input_format: str | None = None
    errors: str = "strict"
    out_format: str | None = None
    all_scores: bool = False
    top_k: int | None = None  # also write the k most probable labels (label_2, score_2, ... label_k, score_k)
    label_separator: str | None = None  # between a multi-label file's labels in a CSV/TSV cell (None: "|")
    window_rows: int = WINDOW_ROWS  # texts classified per chunk; a checkpoint after each
    resume: bool = False
    overwrite: bool = False  # replace an existing --out, only if it is a previous prediction file


def _settings(clf: Classifier, inputs: Sequence[str], options: ClassifyOptions, columns: list[str]) -> dict[str, Any]:
    """What must not change between a run and its resumption, besides the model (the output hashes it): the
    inputs by path (their content is checked while reading, see `ByteCounter`), the options, the thresholds in
    force, and the columns written (the header a resumed file already has)."""
    settings = asdict(options)
    for volatile in ("resume", "overwrite"):
        settings.pop(volatile)
    return {
        "inputs": [str(Path(p).resolve()) for p in inputs],
        "options": settings,
        "long_text": asdict(clf.long_text),
        **({"threshold": clf.threshold} if clf.threshold is not None else {}),
        **({"label_thresholds": [[k, float(t)] for k, t in clf.thresholds.items()]} if clf.thresholds else {}),
        "columns": columns,
    }


def classify_files(
    clf: Classifier,
    inputs: Sequence[str],
    out: str | None,
    options: ClassifyOptions = ClassifyOptions(),
    *,
    progress: ProgressCallback | None = None,
    claimed: bool = False,
) -> Summary:
    """Classify every row of ``inputs`` into ``out`` (stdout when None or ``-``); see the module docstring.

    Empty and whitespace-only rows (and undecodable ones under ``errors="skip"``) are not classified
    and not written; they are counted in the returned `Summary`. ``progress`` is called at the start and
    after every checkpoint. Raises `UsageError` for an ``out`` that `check_output` refuses or that another
    run is writing. ``claimed``: the caller already holds `claim_output` on ``out`` (`classify_claimed`
    takes the claim itself).
    """
    if claimed:
        return classify_claimed(clf, inputs, OutputClaim.of(out), options, progress=progress)
    with claim_output(out, clf.source, inputs, options.overwrite) as claim:
        return classify_claimed(clf, inputs, claim, options, progress=progress)


def _check_options(inputs: Sequence[str], options: ClassifyOptions) -> None:
    if options.window_rows < 1:
        raise InputError(f"window_rows must be at least 1, got {options.window_rows}")
    for path in inputs:
        if path != "-" and not Path(path).exists():
            raise InputError(f"input file not found: {path}")


def classify_claimed(
    clf: Classifier,
    inputs: Sequence[str],
    claim: OutputClaim,
    options: ClassifyOptions = ClassifyOptions(),
    *,
    progress: ProgressCallback | None = None,
) -> Summary:
    """`classify_files` into an output already claimed (checked and locked: `claim_output`), as the CLI
    does from before the model loads. The stages hand on typed records one way: the output's resume state
    to the reader, rows to `Answers`, records and checkpoints to the output, which keeps or removes the
    partial file when something fails."""
    _check_options(inputs, options)
    answers = Answers(
        clf, window_rows=options.window_rows, top_k=options.top_k, all_scores=options.all_scores, progress=progress
    )
    output = PartialOutput(claim, clf.source, _settings(clf, inputs, options, answers.columns), options.out_format)
    shown = clf.decider.labels
    separator = label_separator(shown, clf.multi_label, options.label_separator, output.fmt)  # before any work
    saved = output.open(options.resume)
    counter = ByteCounter()
    if saved is not None:
        counter.expect(saved.get("consumed", []))  # each input must still start with the bytes already classified
    rows = read_inputs(
        inputs, options.text_column, options.id_column, errors=options.errors, fmt=options.input_format, counter=counter
    )
    sizes = [input_size(p) for p in inputs]
    total = None if None in sizes else sum(s for s in sizes if s is not None)
    items = answers.items(rows, counter, saved, total)
    output.write(items, answers.columns, separator)
    return answers.summary
