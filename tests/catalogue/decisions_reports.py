"""Catalogue: mistakes with the decisions (operating point, label names), the model card and its report,
and the Ray path's options. Each is refused before any work, in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.catalogue.case import Case, Context, Outcome, probe, probe_runtime


def _train(ctx: Context, *extra: str) -> Outcome:
    out = ctx.tmp / "model"
    return probe(["train", str(ctx.train_csv), "--model", str(ctx.encoder), "--out", str(out), *extra])


def _nothing_at(name: str):
    def check(ctx: Context) -> None:
        assert not (ctx.tmp / name).exists(), f"{name} was written"

    return check


def _card_out_over_notes(ctx: Context) -> Outcome:
    notes = ctx.tmp / "notes.md"
    notes.write_text("my notes\n", encoding="utf-8")
    return probe_runtime(["info", str(ctx.model), "--card-out", str(notes), "--overwrite"])


def _notes_untouched(ctx: Context) -> None:
    assert (ctx.tmp / "notes.md").read_text(encoding="utf-8") == "my notes\n"


def _report_bad_sweep(ctx: Context) -> Outcome:
    bad = ctx.tmp / "sweep.json"
    bad.write_text("{not json", encoding="utf-8")
    return probe(["report", str(ctx.model), "--out", str(ctx.tmp / "report"), "--sweep", str(bad)])


def _classify(ctx: Context, *extra: str) -> Outcome:
    corpus = ctx.tmp / "in.txt"
    corpus.write_text("the movie was great\n", encoding="utf-8")
    model = ctx.tmp / "model.onnx"
    if not model.exists():
        shutil.copy(ctx.model, model)
    return probe_runtime(["classify", str(model), str(corpus), *extra])


def _out(ctx: Context) -> Path:
    return ctx.tmp / "preds"


CASES: list[Case] = [
    Case(
        "train-operating-point-out-of-range",
        "train",
        "--operating-point fpr=2 (a rate above 1)",
        lambda ctx: _train(ctx, "--operating-point", "fpr=2"),
        "--operating-point must be fpr=X, recall=X or precision=X (X between 0 and 1), f1 or argmax: 2 is not",
        2,
        _nothing_at("model"),
    ),
    Case(
        "train-operating-point-unknown-target",
        "train",
        "--operating-point accuracy=0.9 (not a target probe can choose a threshold for)",
        lambda ctx: _train(ctx, "--operating-point", "accuracy=0.9"),
        "f1 or argmax, not 'accuracy=0.9'",
        2,
        _nothing_at("model"),
    ),
    Case(
        "train-label-names-unknown-label",
        "train",
        "--label-names names a label the data does not have",
        lambda ctx: _train(ctx, "--label-names", "neg=negative,maybe=unsure"),
        "--label-names: 'maybe' is not a label of the data",
        2,
        _nothing_at("model"),
    ),
    Case(
        "export-report-sweep-not-json",
        "export",
        "probe report --sweep FILE where FILE is not a sweep's JSON",
        _report_bad_sweep,
        "not a sweep's JSON",
        1,
        _nothing_at("report"),
    ),
    Case(
        "info-card-out-over-notes",
        "info",
        "info --card-out over the user's own Markdown file (even with --overwrite)",
        _card_out_over_notes,
        "already exists and is not a model card (Markdown) written by probe",
        2,
        _notes_untouched,
    ),
    Case(
        "classify-threshold-out-of-range",
        "classify",
        "--threshold 1.5 (a probability must be between 0 and 1)",
        lambda ctx: _classify(ctx, "--threshold", "1.5", "--out", str(_out(ctx))),
        "--threshold: must be a number from 0 to 1, not '1.5'",
        2,
        _nothing_at("preds"),
    ),
    Case(
        "classify-parquet-without-ray",
        "classify",
        "--format parquet without --ray (only the Ray path writes Parquet)",
        lambda ctx: _classify(ctx, "--format", "parquet", "--out", str(_out(ctx))),
        "--format parquet needs --ray",
        2,
        _nothing_at("preds"),
    ),
    Case(
        "classify-ray-without-out",
        "classify",
        "--ray without --out (the Ray path writes a directory of part files)",
        lambda ctx: _classify(ctx, "--ray"),
        "--ray needs --out DIR",
        2,
    ),
]
