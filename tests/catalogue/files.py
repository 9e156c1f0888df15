"""Catalogue: reading mistakes (train, embed, classify share one reader) and `classify --out`/`--resume` mistakes.

Every data-loss case has a ``check`` proving the victim (model, input, folder, earlier output, another
run's files) is byte-identical afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.catalogue.case import Case, Context, Outcome, probe, probe_runtime
from tests.runtime.tampering import model_variant, rewrite_keeping_size_and_mtime

FIELD_LIMIT = "16,777,216"  # probe_runtime.files.MAX_FIELD_CHARS, as the message prints it
RUN_OPTIONS = ["--threads", "1", "--window-rows", "10"]  # tiny windows: many checkpoints, a kill lands midway
TEXTS = "the movie was great\nthe plot was awful\nexcellent\n"


# --- building the victims -------------------------------------------------------------------------


def _snapshot(root: Path) -> dict[str, bytes | None]:
    return {p.relative_to(root).as_posix(): None if p.is_dir() else p.read_bytes() for p in sorted(root.rglob("*"))}


def _project(ctx: Context) -> Path:
    """A user's folder under ctx.tmp/project: a copy of the model, a corpus, a folder of .txt files, notes."""
    root = ctx.tmp / "project"
    if not root.exists():
        root.mkdir()
        shutil.copy(ctx.model, root / "model.onnx")
        (root / "in.txt").write_text(TEXTS, encoding="utf-8")
        (root / "docs").mkdir()
        (root / "docs" / "a.txt").write_text("lovely hotel", encoding="utf-8")
        (root / "notes.jsonl").write_text('{"title": "my notes", "body": "months of work"}\n', encoding="utf-8")
        (root / "locked").mkdir(mode=0o555)
    return root


def _untouched(run: Callable[[Context, Path], Outcome]) -> tuple[Callable[[Context], Outcome], Callable]:
    """(run, check): ``run`` gets the project folder; ``check`` proves the folder is byte-identical afterwards."""
    before: dict[str, dict[str, bytes | None]] = {}

    def go(ctx: Context) -> Outcome:
        root = _project(ctx)
        before[str(ctx.tmp)] = _snapshot(root)
        return run(ctx, root)

    def check(ctx: Context) -> None:
        assert _snapshot(ctx.tmp / "project") == before[str(ctx.tmp)], "the user's files changed"

    return go, check


def _classify(root: Path, *args: object) -> Outcome:
    return probe_runtime(["classify", str(root / "model.onnx"), *map(str, args), "--threads", "1"])


def _written(ctx: Context, name: str, content: str | bytes) -> Path:
    path = ctx.tmp / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _unwritable_dir(root: Path) -> Path:
    """A folder this process may not write in (root may write in any folder: then a /proc entry)."""
    locked = root / "locked"
    return locked if not os.access(locked, os.W_OK) else Path("/proc/1")


# --- data-loss cases: --out -------------------------------------------------------------------------

_out_is_model = _untouched(lambda ctx, root: _classify(root, root / "in.txt", "--out", root / "model.onnx"))
_out_is_input = _untouched(lambda ctx, root: _classify(root, root / "in.txt", "--out", root / "in.txt"))
_out_in_input_dir = _untouched(lambda ctx, root: _classify(root, root / "docs", "--out", root / "docs" / "p.jsonl"))
_out_foreign = _untouched(lambda ctx, root: _classify(root, root / "in.txt", "--out", root / "notes.jsonl"))
_out_foreign_overwrite = _untouched(
    lambda ctx, root: _classify(root, root / "in.txt", "--out", root / "notes.jsonl", "--overwrite")
)


def _previous_output(ctx: Context, root: Path) -> Outcome:
    (root / "preds.jsonl").write_text('{"id": 1, "label": "pos", "score": 0.91}\n', encoding="utf-8")
    return _classify(root, root / "in.txt", "--out", root / "preds.jsonl")


def _previous_output_check(ctx: Context) -> None:
    path = ctx.tmp / "project" / "preds.jsonl"
    assert path.read_bytes() == b'{"id": 1, "label": "pos", "score": 0.91}\n'


def _concurrent(ctx: Context, root: Path) -> Outcome:
    from probe_runtime.guard import output_lock

    with output_lock(root / "preds.jsonl"):  # another run is writing preds.jsonl right now
        return _classify(root, root / "in.txt", "--out", root / "preds.jsonl")


_concurrent_writer = _untouched(_concurrent)
_unwritable = _untouched(
    lambda ctx, root: _classify(root, root / "in.txt", "--out", _unwritable_dir(root) / "preds.jsonl")
)
_in_proc = _untouched(lambda ctx, root: _classify(root, root / "in.txt", "--out", "/proc/x.jsonl"))
_under_a_file = _untouched(
    lambda ctx, root: _classify(root, root / "in.txt", "--out", root / "notes.jsonl" / "preds.jsonl")
)


# --- resume after a change ----------------------------------------------------------------------------


def _interrupted_run(ctx: Context, model_bytes: bytes | None = None) -> tuple[Path, Path, Path]:
    """A real run killed (SIGKILL) midway: (model copy, input, out) with the partial output on disk."""
    root = ctx.tmp / "resume"
    root.mkdir()
    model, source, out = root / "model.onnx", root / "in.txt", root / "preds.jsonl"
    model.write_bytes(model_bytes if model_bytes is not None else ctx.model.read_bytes())
    source.write_text("".join(f"the movie was great number {i}\n" for i in range(3000)), encoding="utf-8")
    runtime = str(Path(sys.executable).with_name("probe-runtime"))
    cmd = [runtime, "classify", str(model), str(source), "-o", str(out), *RUN_OPTIONS]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = root / ".preds.jsonl.partial.json"
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if json.loads(state.read_text())["progress"]["read"] >= 100:
                break
        except (OSError, ValueError, KeyError):
            time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert not out.exists(), "the run finished before it could be interrupted"
    return model, source, out


def _resume_model_changed(ctx: Context) -> Outcome:
    # Two editions of the model with the same size (they differ in one metadata entry).
    model, source, out = _interrupted_run(ctx, model_variant(ctx.model, "edition A"))
    _kept_partial(ctx)
    # Replaced in place by another edition of the same size, timestamps put back: only the content tells.
    rewrite_keeping_size_and_mtime(model, model_variant(ctx.model, "edition B"))
    return probe_runtime(["classify", str(model), str(source), "-o", str(out), *RUN_OPTIONS, "--resume"])


def _kept_partial(ctx: Context) -> None:
    partial = ctx.tmp / "resume" / ".preds.jsonl.partial"
    (ctx.tmp / "partial.before").write_bytes(partial.read_bytes())


def _partial_is_kept(ctx: Context) -> None:
    partial = ctx.tmp / "resume" / ".preds.jsonl.partial"
    assert partial.read_bytes() == (ctx.tmp / "partial.before").read_bytes(), "the interrupted run's work changed"
    assert not (ctx.tmp / "resume" / "preds.jsonl").exists()


def _resume_input_changed(ctx: Context) -> Outcome:
    model, source, out = _interrupted_run(ctx)
    _kept_partial(ctx)
    rewrite_keeping_size_and_mtime(source, source.read_bytes().replace(b"great number 0\n", b"awful number 0\n", 1))
    return probe_runtime(["classify", str(model), str(source), "-o", str(out), *RUN_OPTIONS, "--resume"])


# --- reading mistakes ---------------------------------------------------------------------------------

EXTRA_FIELD = "text,label\nfine,pos\nawful, really awful,neg\nok,pos\n"
HUGE_FIELD = 'text,label\nfine,pos\n"' + "x" * (16 * 1024 * 1024 + 1) + '",neg\n'


def _train(ctx: Context, name: str, content: str, *extra: str) -> Outcome:
    data = _written(ctx, name, content)
    return probe(["train", str(data), "--model", str(ctx.encoder), "--out", str(ctx.tmp / "out"), *extra])


def _labelled_jsonl(label: str) -> str:
    return '{"text": "fine", "label": "pos"}\n{"text": "bad", "label": "neg"}\n' + (
        f'{{"text": "meh", "label": {label}}}\n'
    )


def _embed(ctx: Context, name: str, content: str) -> Outcome:
    data = _written(ctx, name, content)
    return probe(["embed", str(data), "--model", str(ctx.encoder), "--out", str(ctx.tmp / "v.npy")])


def _classify_file(ctx: Context, name: str, content: str) -> Outcome:
    data = _written(ctx, name, content)
    return probe_runtime(["classify", str(ctx.model), str(data), "--out", str(ctx.tmp / "p.jsonl")])


def _nothing_written(*names: str) -> Callable[[Context], None]:
    def check(ctx: Context) -> None:
        assert not [n for n in names if (ctx.tmp / n).exists()], "an output appeared"

    return check


CASES: list[Case] = [
    # classify --out: data loss refused before any work, the victim byte-identical
    Case(
        "classify-out-is-the-model",
        "classify",
        "writes predictions over the model (--out MODEL)",
        _out_is_model[0],
        "model.onnx is the model",
        2,
        _out_is_model[1],
    ),
    Case(
        "classify-out-is-the-input",
        "classify",
        "writes predictions over the input file",
        _out_is_input[0],
        "in.txt is the input",
        2,
        _out_is_input[1],
    ),
    Case(
        "classify-out-inside-input-dir",
        "classify",
        "writes predictions into the directory being classified",
        _out_in_input_dir[0],
        "p.jsonl is inside the input",
        2,
        _out_in_input_dir[1],
    ),
    Case(
        "classify-out-exists-foreign",
        "classify",
        "--out names an existing file that is not a prediction file",
        _out_foreign[0],
        "notes.jsonl already exists and is not a prediction file written by probe",
        2,
        _out_foreign[1],
    ),
    Case(
        "classify-overwrite-foreign-file",
        "classify",
        "--overwrite on an existing file that is not a prediction file",
        _out_foreign_overwrite[0],
        "probe never replaces what it did not create",
        2,
        _out_foreign_overwrite[1],
    ),
    Case(
        "classify-out-exists-no-overwrite",
        "classify",
        "--out names an earlier prediction file, without --overwrite",
        _untouched(_previous_output)[0],
        "already exists (a prediction file from an earlier run); pass --overwrite to replace it",
        2,
        _previous_output_check,
    ),
    Case(
        "classify-concurrent-writer",
        "classify",
        "a second run writes the same --out while the first is running",
        _concurrent_writer[0],
        "another probe process is writing",
        2,
        _concurrent_writer[1],
    ),
    Case(
        "classify-out-unwritable",
        "classify",
        "--out in a directory the user may not write in",
        _unwritable[0],
        "no permission to write in",
        2,
        _unwritable[1],
    ),
    Case(
        "classify-out-under-a-file",
        "classify",
        "--out under a path that is a file",
        _under_a_file[0],
        "notes.jsonl is a file, not a directory",
        2,
        _under_a_file[1],
    ),
    Case(
        "classify-overwrite-to-stdout",
        "classify",
        "--overwrite without --out",
        lambda ctx: _classify(_project(ctx), _project(ctx) / "in.txt", "--overwrite"),
        "--overwrite needs --out FILE",
        2,
    ),
    Case(
        "classify-threads-zero",
        "classify",
        "--threads 0",
        lambda ctx: probe_runtime(["classify", str(ctx.model), str(_project(ctx) / "in.txt"), "--threads", "0"]),
        "argument --threads: must be at least 1, got 0",
        2,
    ),
    Case(
        "classify-threads-beyond-cores",
        "classify",
        "--threads 10000 (it printed its answer and never exited)",
        lambda ctx: probe_runtime(["classify", str(ctx.model), str(_project(ctx) / "in.txt"), "--threads", "10000"]),
        "threads 10000 is more than the ",
        2,
    ),
    Case(
        "classify-out-in-proc",
        "classify",
        "--out /proc/x.jsonl (a place nothing can be written, even by root)",
        _in_proc[0],
        "--out /proc/x.jsonl: ",
        2,
        _in_proc[1],
    ),
    Case(
        "classify-provider-unavailable",
        "classify",
        "--provider CUDAExecutionProvider where onnxruntime has no CUDA",
        lambda ctx: _classify(_project(ctx), _project(ctx) / "in.txt", "--provider", "NoSuchExecutionProvider"),
        "execution provider 'NoSuchExecutionProvider' is not available in this onnxruntime; available: ",
        2,
    ),
    Case(
        "classify-spin-with-ray",
        "classify",
        "--spin (or --no-spin) with --ray",
        lambda ctx: _classify(_project(ctx), _project(ctx) / "in.txt", "--ray", "--spin"),
        "--spin/--no-spin is not available with --ray",
        2,
    ),
    Case(
        "classify-resume-model-changed",
        "classify",
        "--resume after the model was replaced in place (same size and mtime)",
        _resume_model_changed,
        "the partial output was made with a different model (the content of",
        1,
        _partial_is_kept,
    ),
    Case(
        "classify-resume-input-changed",
        "classify",
        "--resume after the already-classified part of the input was edited (same size and mtime)",
        _resume_input_changed,
        "in.txt changed since the interrupted run (its first",
        1,
        _partial_is_kept,
    ),
    Case(
        "classify-csv-extra-field",
        "classify",
        "a CSV text with an unquoted comma (more fields than the header)",
        lambda ctx: _classify_file(ctx, "in.csv", EXTRA_FIELD),
        "in.csv, line 3: the row has 3 fields, the header has 2. Quote a text that contains a comma",
        1,
        _nothing_written("p.jsonl", ".p.jsonl.partial"),
    ),
    Case(
        "classify-csv-field-too-big",
        "classify",
        "a CSV field beyond 16 Mi characters (an unclosed quote, usually)",
        lambda ctx: _classify_file(ctx, "in.csv", HUGE_FIELD),
        f"in.csv, line 3: a record longer than {FIELD_LIMIT} characters",
        1,
        _nothing_written("p.jsonl", ".p.jsonl.partial"),
    ),
    Case(
        "classify-csv-text-column-twice",
        "classify",
        "a CSV header that names the text column twice (it silently used the first)",
        lambda ctx: _classify_file(ctx, "in.csv", "text,text\ngreat,awful\n"),
        "in.csv: the header names column 'text' 2 times (columns 1, 2); rename all but one",
        1,
        _nothing_written("p.jsonl", ".p.jsonl.partial"),
    ),
    Case(
        "classify-json-document",
        "classify",
        "a pretty-printed .json document instead of JSON Lines",
        lambda ctx: _classify_file(ctx, "in.json", '[\n  {"text": "fine"}\n]\n'),
        "in.json, line 1: not valid JSON (Expecting value); one object per line",
        1,
    ),
    # train: labelled data through the same reader
    Case(
        "train-csv-extra-field",
        "train",
        "an unquoted comma in a text shifts part of it into the label column",
        lambda ctx: _train(ctx, "train.csv", EXTRA_FIELD),
        "train.csv, line 3: the row has 3 fields, the header has 2. Quote a text that contains a comma",
    ),
    Case(
        "train-nan-label",
        "train",
        "a label written as NaN (a missing value from pandas)",
        lambda ctx: _train(ctx, "train.csv", "text,label\nfine,pos\nbad,neg\nmeh,NaN\n"),
        "train.csv, line 4: the label is 'NaN', a missing value, not a class",
    ),
    Case(
        "train-empty-label",
        "train",
        "a row with an empty label",
        lambda ctx: _train(ctx, "train.csv", "text,label\nfine,pos\nbad,neg\nmeh,\n"),
        "train.csv, line 4: the label is empty",
    ),
    Case(
        "train-json-null-label",
        "train",
        "a JSON Lines label that is null",
        lambda ctx: _train(ctx, "train.jsonl", _labelled_jsonl("null")),
        "train.jsonl, line 3: the label is null, a missing value, not a class",
    ),
    Case(
        "train-json-float-label",
        "train",
        "a JSON Lines label that is a float (1.0)",
        lambda ctx: _train(ctx, "train.jsonl", _labelled_jsonl("1.0")),
        "train.jsonl, line 3: the label 1.0 is a number with a fraction part",
    ),
    Case(
        "train-weight-not-a-number",
        "train",
        "a training weight that is not a number (`--weight-column`)",
        lambda ctx: _train(
            ctx, "train.csv", "text,label,w\nfine,pos,1\nbad,neg,1\nmeh,neg,heavy\n", "--weight-column", "w"
        ),
        "train.csv, line 4: the weight 'heavy' is not a number; write a number >= 0 (1 = normal)",
    ),
    Case(
        "train-weight-negative",
        "train",
        "a negative training weight",
        lambda ctx: _train(ctx, "train.csv", "text,label,w\nfine,pos,1\nbad,neg,-2\n", "--weight-column", "w"),
        "train.csv, line 3: the weight -2 is not a finite number >= 0",
    ),
    Case(
        "train-weight-column-missing",
        "train",
        "`--weight-column` naming a column the file does not have",
        lambda ctx: _train(ctx, "train.csv", "text,label\nfine,pos\nbad,neg\n", "--weight-column", "weight"),
        "train.csv: no column 'weight'; the header has ['text', 'label']. Pick one with --weight-column.",
    ),
    Case(
        "train-weight-class-all-zero",
        "train",
        "every row of a label weighted 0",
        lambda ctx: _train(ctx, "train.csv", "text,label,w\nfine,pos,1\nbad,neg,0\n", "--weight-column", "w"),
        "every example of ['neg'] has weight 0 in column 'w'",
    ),
    Case(
        "train-txt-data",
        "train",
        "training data in a .txt file (plain text has no labels)",
        lambda ctx: _train(ctx, "train.txt", "text,label\nfine,pos\nbad,neg\n"),
        "train.txt: no labels: it is read as plain text (one text per line)",
    ),
    Case(
        "train-csv-field-too-big",
        "train",
        "a CSV field beyond 16 Mi characters",
        lambda ctx: _train(ctx, "train.csv", HUGE_FIELD),
        f"train.csv, line 3: a record longer than {FIELD_LIMIT} characters",
    ),
    Case(
        "train-csv-unclosed-quote",
        "train",
        "a quote opened and never closed",
        lambda ctx: _train(ctx, "train.csv", 'text,label\nfine,pos\n"oops,neg\nbad,neg\n'),
        "line 3: the row has 1 fields, the header has 2 (the record runs to line 4: check for an unclosed quote)",
    ),
    # embed: the same reader
    Case(
        "embed-csv-extra-field",
        "embed",
        "an unquoted comma in a CSV text",
        lambda ctx: _embed(ctx, "data.csv", EXTRA_FIELD),
        "data.csv, line 3: the row has 3 fields, the header has 2",
        1,
        _nothing_written("v.npy"),
    ),
    Case(
        "embed-json-document",
        "embed",
        "a pretty-printed .json document instead of JSON Lines",
        lambda ctx: _embed(ctx, "data.json", '[\n  {"text": "fine"}\n]\n'),
        "data.json, line 1: not valid JSON (Expecting value); one object per line",
        1,
        _nothing_written("v.npy"),
    ),
]
