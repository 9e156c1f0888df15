"""`probe-runtime classify` on a multi-label file: every text's label set, in every output format, resumable.

The file is real (tests/runtime/multilabel_file.py): thresholds positive 0.5, negative 0.5, food 0.4, so
"our dinner was great" is positive and food, "the plot was dull" negative, "the hotel" nothing at all.
A multi-label output keeps the single-label shape and adds one column: id, label, score, labels. ``label`` and
``score`` are the most probable label and its probability whether or not it passed (as `Prediction.to_dict`),
``labels`` the labels that passed, most probable first: a JSON list in JSONL, one cell joined by ``|`` in CSV/TSV.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from probe_runtime import Classifier
from probe_runtime.classify_files import ClassifyOptions, classify_files
from probe_runtime.cli import main

from tests.runtime.multilabel_file import LABELS

TEXTS = ["our dinner was great", "the plot was dull", "the hotel", "our dinner was awful and the plot was great"]
EXPECTED = [["positive", "food"], ["negative"], [], ["positive", "food", "negative"]]
SUMMARY = "read 5 rows, classified 4, skipped 1 (empty 1); labels: positive 2, negative 2, food 2; 1 text with no label"


@pytest.fixture(scope="module")
def clf(multilabel_model) -> Classifier:
    return Classifier.load(multilabel_model, threads=1)


@pytest.fixture
def texts(tmp_path) -> Path:
    """The four texts, with an empty line between the second and the third (skipped, counted)."""
    path = tmp_path / "in.txt"
    path.write_text("\n".join([*TEXTS[:2], "", *TEXTS[2:]]) + "\n", encoding="utf-8")
    return path


def classify(model: Path, source: Path, out: Path, *extra: str) -> int:
    return main(["classify", str(model), str(source), "-o", str(out), "--threads", "1", *extra])


def test_jsonl_gives_each_text_its_label_set_after_label_and_score(multilabel_model, clf, texts, tmp_path):
    out = tmp_path / "out.jsonl"
    assert classify(multilabel_model, texts, out) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [list(row) for row in rows] == [["id", "label", "score", "labels"]] * 4
    assert [row["id"] for row in rows] == [1, 2, 4, 5]  # line numbers; line 3 is empty
    assert [row["labels"] for row in rows] == EXPECTED
    for row, prediction in zip(rows, clf.classify(TEXTS)):  # label, score: the most probable, passed or not
        assert (row["label"], row["score"]) == (prediction.label, round(prediction.score, 6))
    assert rows[2]["labels"] == [] and rows[2]["label"] in LABELS  # the hotel: no label passes its threshold


def test_csv_joins_the_labels_with_a_bar_and_an_empty_cell_is_no_label(multilabel_model, texts, tmp_path):
    out = tmp_path / "out.csv"
    assert classify(multilabel_model, texts, out) == 0
    with open(out, newline="", encoding="utf-8") as stream:
        rows = list(csv.reader(stream))
    assert rows[0] == ["id", "label", "score", "labels"]
    assert [row[3] for row in rows[1:]] == ["positive|food", "negative", "", "positive|food|negative"]


def test_tsv_takes_another_separator(multilabel_model, texts, tmp_path):
    out = tmp_path / "out.tsv"
    assert classify(multilabel_model, texts, out, "--label-separator", ";") == 0
    cells = [line.split("\t")[3] for line in out.read_text(encoding="utf-8").splitlines()]
    assert cells == ["labels", "positive;food", "negative", "", "positive;food;negative"]


def test_a_label_containing_the_separator_is_refused_before_any_work(multilabel_model, texts, tmp_path, capsys):
    """Refused rather than quoted: a labels cell is always split back by the separator alone."""
    out = tmp_path / "out.csv"
    assert classify(multilabel_model, texts, out, "--label-separator", "o") == 2
    err = capsys.readouterr().err.strip()
    assert "the label 'positive' contains the label separator 'o'" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == [texts]  # nothing written, no partial file


@pytest.mark.parametrize(
    ("model", "out", "message"),
    [
        ("multilabel", "out.jsonl", "--label-separator is for CSV/TSV output; jsonl writes the labels as a list"),
        ("single", "out.csv", "--label-separator is for multi-label files; this file gives one label per text"),
    ],
)
def test_a_separator_nothing_would_use_is_refused(
    multilabel_model, tiny_artifacts, texts, tmp_path, capsys, model, out, message
):
    path = multilabel_model if model == "multilabel" else tiny_artifacts["int8"]
    assert classify(path, texts, tmp_path / out, "--label-separator", ";") == 2
    assert message in capsys.readouterr().err


def test_all_scores_adds_every_labels_independent_probability(multilabel_model, clf, texts, tmp_path):
    out = tmp_path / "out.jsonl"
    assert classify(multilabel_model, texts, out, "--all-scores") == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert list(rows[0]) == ["id", "label", "score", "labels", *(f"score_{label}" for label in LABELS)]
    for row, prediction in zip(rows, clf.classify(TEXTS)):
        assert {label: row[f"score_{label}"] for label in LABELS} == {
            label: round(p, 6) for label, p in prediction.scores.items()
        }
    assert sum(rows[0][f"score_{label}"] for label in LABELS) > 1.5  # sigmoids, not a distribution


def test_the_summary_counts_every_label_of_every_set_and_the_texts_with_none(multilabel_model, texts, tmp_path, capsys):
    assert classify(multilabel_model, texts, tmp_path / "out.jsonl") == 0
    assert capsys.readouterr().err.strip().split(" → ")[0] == SUMMARY


def test_a_single_label_file_writes_no_labels_column_and_no_unlabelled_count(tiny_artifacts, texts, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert classify(tiny_artifacts["int8"], texts, out) == 0
    assert list(json.loads(out.read_text(encoding="utf-8").splitlines()[0])) == ["id", "label", "score"]
    assert "with no label" not in capsys.readouterr().err


class Interrupt:
    """Ctrl-C after ``after`` progress reports (each one follows a checkpoint): an interruption mid-file."""

    def __init__(self, after: int) -> None:
        self.after, self.seen = after, 0

    def __call__(self, _progress: object) -> None:
        self.seen += 1
        if self.seen > self.after:
            raise KeyboardInterrupt


@pytest.fixture
def corpus(tmp_path) -> Path:
    """200 rows (every 13th empty), so that 10-row windows give many checkpoints to stop at."""
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join("" if i % 13 == 0 else TEXTS[i % 4] for i in range(200)) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_resumed_run_writes_the_bytes_of_an_uninterrupted_one(multilabel_model, corpus, tmp_path, capsys, fmt):
    options = ["--window-rows", "10", "--all-scores"]
    reference, out = tmp_path / f"ref.{fmt}", tmp_path / f"out.{fmt}"
    assert classify(multilabel_model, corpus, reference, *options) == 0
    summary = capsys.readouterr().err.strip().split(" → ")[0]
    clf = Classifier.load(multilabel_model, threads=1)
    with pytest.raises(KeyboardInterrupt):
        classify_files(
            clf, [str(corpus)], str(out), ClassifyOptions(window_rows=10, all_scores=True), progress=Interrupt(5)
        )
    assert not out.exists() and (tmp_path / f".out.{fmt}.partial").stat().st_size > 0
    assert classify(multilabel_model, corpus, out, *options, "--resume") == 0
    assert out.read_bytes() == reference.read_bytes()
    resumed = capsys.readouterr().err.strip().split(" → ")[0]
    assert resumed.startswith(summary) and "with no label" in summary  # the counts carry on across the resume


def test_resuming_with_a_file_of_another_task_is_refused(multilabel_model, tiny_artifacts, corpus, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    single = Classifier.load(tiny_artifacts["int8"], threads=1)
    with pytest.raises(KeyboardInterrupt):
        classify_files(single, [str(corpus)], str(out), ClassifyOptions(window_rows=10), progress=Interrupt(3))
    assert classify(multilabel_model, corpus, out, "--window-rows", "10", "--resume") == 1
    err = capsys.readouterr().err
    assert "the partial output was made with" in err and "a different model (the content of" in err
    assert "columns" not in err and "label thresholds" not in err  # what follows from the model is not listed
    assert (tmp_path / ".out.jsonl.partial").exists()  # the work is kept for the right command
