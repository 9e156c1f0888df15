"""Mistakes with multi-label data in `probe train` and multi-label model directories in `probe export`: a separator
that splits nothing, a label that never occurs, a 0/1 column holding 2, options multi-label training does not have,
a contradiction between flags, a model directory that lost its thresholds. Nothing is written in any of them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.catalogue.case import Case, Context, Outcome, probe
from tests.train.multilabel_rows import multilabel_rows, write_cells, write_columns


def _nothing_written(ctx: Context) -> None:
    assert not (ctx.tmp / "m").exists() and not (ctx.tmp / "m.onnx").exists()


def _train(ctx: Context, data: Path, *extra: object) -> Outcome:
    return probe([str(a) for a in ["train", data, "-m", ctx.encoder, "--out", ctx.tmp / "m", *extra]])


def _cells(ctx: Context) -> Path:
    return write_cells(ctx.tmp / "tags.csv", multilabel_rows(40, 1))


def separator_splits_nothing(ctx: Context) -> Outcome:
    return _train(ctx, _cells(ctx), "--label-separator", ";")


def label_never_occurs(ctx: Context) -> Outcome:
    rows = [(text, labels) for text, labels in multilabel_rows(40, 1)]
    data = write_columns(ctx.tmp / "tags.csv", rows, ["pos", "neg", "sarcasm"])  # no text is sarcastic
    return _train(ctx, data, "--label-columns", "pos,neg,sarcasm")


def column_holds_2(ctx: Context) -> Outcome:
    data = write_columns(ctx.tmp / "tags.csv", multilabel_rows(40, 1), ["pos", "neg"])
    lines = data.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3][: lines[3].rindex(",")] + ",2"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return _train(ctx, data, "--label-columns", "pos,neg")


def finetune_multilabel(ctx: Context) -> Outcome:
    return _train(ctx, _cells(ctx), "--method", "finetune", "--epochs", "1")


def multilabel_without_thresholds(ctx: Context) -> Outcome:
    model = shutil.copytree(ctx.trained, ctx.tmp / "model")
    config = json.loads((model / "config.json").read_text())
    config["task"] = "multi-label"
    (model / "config.json").write_text(json.dumps(config))
    return probe(["export", str(model), "--out", str(ctx.tmp / "m.onnx")])


CASES = [
    Case(
        "train-multilabel-separator-splits-nothing",
        "train",
        "--label-separator ';' on labels joined by a vertical bar",
        separator_splits_nothing,
        "the separator ';' splits no label cell in column 'label', but '|' does",
        1,
        _nothing_written,
    ),
    Case(
        "train-multilabel-label-never-occurs",
        "train",
        "--label-columns names a 0/1 column that is 0 on every row",
        label_never_occurs,
        "column 'sarcasm' is 0 on every row: the label never occurs",
        1,
        _nothing_written,
    ),
    Case(
        "train-multilabel-column-holds-2",
        "train",
        "a --label-columns column holds 2",
        column_holds_2,
        "column 'neg' holds '2'; a label column holds 0 (the label does not apply) or 1 (it applies)",
        1,
        _nothing_written,
    ),
    Case(
        "train-multilabel-finetune",
        "train",
        "--method finetune on multi-label data (not supported yet)",
        finetune_multilabel,
        "fine-tuning multi-label data is not supported yet; train it with --method probe (the default)",
        2,
        _nothing_written,
    ),
    Case(
        "train-threshold-target-precision-2",
        "train",
        "--threshold-target precision=2 (a precision is at most 1)",
        lambda ctx: _train(ctx, _cells(ctx), "--threshold-target", "precision=2"),
        "the target precision needs a level in (0, 1]: write precision=0.9",
        2,
        _nothing_written,
    ),
    Case(
        "train-single-label-with-label-columns",
        "train",
        "--single-label together with --label-columns",
        lambda ctx: _train(ctx, _cells(ctx), "--single-label", "--label-columns", "pos,neg"),
        "--single-label and --label-columns contradict each other",
        2,
        _nothing_written,
    ),
    Case(
        "train-multilabel-class-weight",
        "train",
        "--class-weight on multi-label data (each label is weighed balanced)",
        lambda ctx: _train(ctx, _cells(ctx), "--class-weight", "balanced"),
        "--class-weight is for single-label data",
        2,
        _nothing_written,
    ),
    Case(
        "export-multilabel-without-thresholds",
        "export",
        "a multi-label model directory's config.json lost its thresholds",
        multilabel_without_thresholds,
        "a multi-label model needs its 'thresholds' (one per label)",
        1,
        _nothing_written,
    ),
]
