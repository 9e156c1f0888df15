"""Catalogue: mistakes with multi-label files' per-label thresholds (Python API and the shared load flags)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.catalogue.case import Case, Context, Outcome, api, probe_runtime


def _multilabel(ctx: Context) -> Path:
    from tests.runtime.multilabel_file import write_multilabel_artifact

    return write_multilabel_artifact(ctx.encoder, ctx.tmp / "multilabel.onnx")


def _load(multilabel: bool, **options: object) -> Callable[[Context], Outcome]:
    def run(ctx: Context) -> Outcome:
        from probe_runtime import Classifier

        path = _multilabel(ctx) if multilabel else ctx.model
        return api(lambda: Classifier.load(path, **options))

    return run


def _serve(*flags: str) -> Callable[[Context], Outcome]:
    return lambda ctx: probe_runtime(["serve", str(_multilabel(ctx)), *flags])


def _classify(out: str, *flags: str, multilabel: bool = True) -> Callable[[Context], Outcome]:
    def run(ctx: Context) -> Outcome:
        model = _multilabel(ctx) if multilabel else ctx.model
        return probe_runtime(["classify", str(model), str(ctx.test_csv), "-o", str(ctx.tmp / out), *flags])

    return run


def _nothing_written(out: str) -> Callable[[Context], None]:
    def check(ctx: Context) -> None:
        assert not (ctx.tmp / out).exists() and not (ctx.tmp / f".{out}.partial").exists()

    return check


CASES = [
    Case(
        "classify-label-separator-in-a-label",
        "classify",
        "classify multilabel.onnx -o out.csv --label-separator o (the label 'positive' contains it)",
        _classify("out.csv", "--label-separator", "o"),
        "the label 'positive' contains the label separator 'o', so a CSV cell of labels could not be split back",
        exit_code=2,
        check=_nothing_written("out.csv"),
    ),
    Case(
        "classify-label-separator-jsonl",
        "classify",
        "classify multilabel.onnx -o out.jsonl --label-separator ';' (JSONL writes labels as a list)",
        _classify("out.jsonl", "--label-separator", ";"),
        "--label-separator is for CSV/TSV output; jsonl writes the labels as a list",
        exit_code=2,
    ),
    Case(
        "classify-label-separator-single-label-file",
        "classify",
        "classify single_label.onnx -o out.csv --label-separator ';'",
        _classify("out.csv", "--label-separator", ";", multilabel=False),
        "--label-separator is for multi-label files; this file gives one label per text",
        exit_code=2,
    ),
    Case(
        "api-label-threshold-unknown-label",
        "api",
        "Classifier.load(multilabel_file, thresholds={'insult': 0.3}) (a label the file does not have)",
        _load(True, thresholds={"insult": 0.3}),
        "has no label 'insult' to set a threshold for; its labels are positive, negative, food",
        exit_code=None,
    ),
    Case(
        "api-label-threshold-out-of-range",
        "api",
        "Classifier.load(multilabel_file, thresholds={'food': 1.5})",
        _load(True, thresholds={"food": 1.5}),
        "the threshold of label 'food' must be a number from 0 to 1, not 1.5",
        exit_code=None,
    ),
    Case(
        "api-label-thresholds-single-label-file",
        "api",
        "Classifier.load(single_label_file, thresholds={'pos': 0.3}) (per-label thresholds for a one-label file)",
        _load(False, thresholds={"pos": 0.3}),
        "is single-label: per-label thresholds (--label-threshold) are for multi-label files; use threshold",
        exit_code=None,
    ),
    Case(
        "serve-label-threshold-malformed",
        "serve",
        "probe-runtime serve multilabel.onnx --label-threshold food (no =THRESHOLD)",
        _serve("--label-threshold", "food"),
        "must be LABEL=THRESHOLD (e.g. insult=0.3), not 'food'",
        exit_code=2,
    ),
    Case(
        "serve-label-threshold-twice",
        "serve",
        "probe-runtime serve multilabel.onnx --label-threshold food=0.3 --label-threshold food=0.5",
        _serve("--label-threshold", "food=0.3", "--label-threshold", "food=0.5"),
        "--label-threshold names 'food' twice; give each label's threshold once",
        exit_code=2,
    ),
    Case(
        "serve-label-threshold-unknown-label",
        "serve",
        "probe-runtime serve multilabel.onnx --label-threshold insult=0.3",
        _serve("--label-threshold", "insult=0.3"),
        "has no label 'insult' to set a threshold for",
        exit_code=2,
    ),
]
