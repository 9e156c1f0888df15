"""Multi-label end to end: `probe train` on data with several labels per text (or none) -> model directory ->
`probe export` -> one file the runtime answers with label lists, equal to the PyTorch module's thresholded sigmoid.

Trained for real on the tiny random encoder (tests/conftest.py) with synthetic data it can learn
(tests/train/multilabel_rows.py): ``pos``/``neg`` by a sentiment word, ``food`` by "our dinner".
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from probe_export.cli import main
from probe_export.gate import agreement
from probe_export.module import build_module, torch_probabilities
from probe_runtime import Classifier
from probe_runtime.artifact import Task
from probe_runtime.cli import main as runtime_main
from probe_train.model_dir import load_trained

from tests.export.test_training_record import DIRECTORY_ONLY, MULTI_LABEL_ONLY, SUMMARY, _recorded
from tests.train.multilabel_rows import LABELS, multilabel_rows, write_cells, write_columns


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def ml_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("multilabel-data")
    return write_cells(root / "train.csv", multilabel_rows(160, 1)), write_cells(
        root / "test.csv", multilabel_rows(48, 2)
    )


@pytest.fixture(scope="module")
def trained(tiny_encoder: Path, ml_data, tmp_path_factory) -> tuple[Path, str, str]:
    """The model directory, and what `probe train` printed (stdout, stderr)."""
    train, test = ml_data
    model = tmp_path_factory.mktemp("ml") / "model"
    code, out, err = _run(["train", str(train), "--test", str(test), "--out", str(model), "--model", str(tiny_encoder)])
    assert code == 0, err
    return model, out, err


@pytest.fixture(scope="module")
def artifacts(trained, tmp_path_factory) -> dict[str, Path]:
    model = trained[0]
    root = tmp_path_factory.mktemp("ml-files")
    files = {}
    for quantize in ("none", "auto"):
        files[quantize] = root / f"{quantize}.onnx"
        code, _, err = _run(["export", str(model), "--out", str(files[quantize]), "--quantize", quantize])
        assert code == 0, err
    return files


def test_training_says_in_one_line_that_the_data_is_multi_label_and_why(trained, ml_data):
    _, out, err = trained
    detected = [line for line in err.splitlines() if line.startswith("multi-label:")]
    assert len(detected) == 1 and str(ml_data[0]) in detected[0] and "several labels" in detected[0]
    assert "micro-F1" in out and "macro-F1" in out and "Hamming loss" in out
    assert "thresholds (chosen for f1" in out


def test_the_model_directory_records_a_threshold_per_label_and_the_multi_label_figures(trained):
    model = load_trained(trained[0])
    assert model.task is Task.MULTI_LABEL and model.labels == LABELS
    assert model.thresholds is not None and set(model.thresholds.by_label) == set(LABELS)
    assert model.thresholds.target == "f1" and "cross-validated" in (model.thresholds.chosen_on or "")
    r, s = model.report, model.settings
    for figure in (r.macro_f1, r.micro_f1, r.weighted_f1, r.subset_accuracy, r.hamming_loss):
        assert figure is not None and 0 <= figure <= 1
    assert r.per_class is not None and set(r.per_class) == set(LABELS)
    assert s.label_C is not None and set(s.label_C) == set(LABELS)
    assert s.cv_average_precision is not None and s.threshold_figures is not None
    assert r.macro_f1 is not None and r.macro_f1 > 0.6  # learnable: a word per label
    assert model.eval_y and all(len(row) == len(LABELS) for row in model.eval_y)
    assert any(sum(row) == 0 for row in model.eval_y) and any(sum(row) >= 2 for row in model.eval_y)


def _torch_labels(model_dir: Path, texts: list[str]) -> tuple[list[list[str]], np.ndarray]:
    trained = load_trained(model_dir)
    module, encoder = build_module(trained, model_dir)
    proba = torch_probabilities(module, encoder, texts)
    assert trained.thresholds is not None
    cuts = np.array([trained.thresholds.by_label[label] for label in trained.labels])
    return [sorted(np.array(trained.labels)[row >= cuts].tolist()) for row in proba], proba


def test_the_file_answers_label_lists_equal_to_the_torch_modules_thresholded_sigmoid(trained, artifacts, ml_data):
    texts = [line.split(",")[0] for line in ml_data[1].read_text(encoding="utf-8").splitlines()[1:]]
    expected, proba = _torch_labels(trained[0], texts)
    clf = Classifier.load(artifacts["none"], threads=1)
    assert clf.multi_label and clf.manifest.task is Task.MULTI_LABEL
    got = clf.predict(texts)
    assert [sorted(labels) for labels in got] == expected
    assert np.abs(clf.predict_proba(texts) - proba).max() < 1e-4
    assert any(labels == [] for labels in got) and any(len(labels) >= 2 for labels in got)
    assert not np.allclose(proba.sum(axis=1), 1)  # a sigmoid per label, not a softmax


def test_the_auto_file_is_gated_and_records_every_multi_label_figure_of_the_run(trained, artifacts):
    model = load_trained(trained[0])
    clf = Classifier.load(artifacts["auto"], threads=1)
    m = clf.manifest
    assert m.thresholds is not None and m.thresholds.by_label == model.thresholds.by_label  # type: ignore[union-attr]
    assert m.temperature == 1.0
    t = m.training
    for name in ("macro_f1", "micro_f1", "weighted_f1", "subset_accuracy", "hamming_loss", "per_class", "n"):
        assert getattr(t, name) == getattr(model.report, name), name
    assert m.verification.precision is not None and m.verification.precision.chosen is not None
    assert m.verification.fp32 is not None and m.verification.fp32.agreement == 1.0
    assert m.card is not None and "threshold" in m.card and "micro-F1" in m.card


def test_every_field_the_multi_label_run_records_reaches_the_artifact_or_is_declared_directory_only(trained, artifacts):
    training = Classifier.load(artifacts["none"]).manifest.training.to_json_dict()
    recorded = _recorded(trained[0])
    for key, value in recorded.items():
        if key in SUMMARY:
            assert training.get(key) == value, f"{key}: the directory has {value!r}, the artifact {training.get(key)!r}"
        else:
            assert key in DIRECTORY_ONLY, f"{key} is recorded by training but reaches no artifact"
    assert training.keys() <= recorded.keys()
    assert training.keys() >= MULTI_LABEL_ONLY


def test_info_shows_the_thresholds_and_the_multi_label_figures(artifacts, capsys):
    assert runtime_main(["info", str(artifacts["auto"])]) == 0
    out = capsys.readouterr().out
    assert "thresholds" in out and "micro_f1" in out and "hamming_loss" in out


def test_0_1_label_columns_train_and_export_in_the_columns_order(tiny_encoder, tmp_path):
    rows = multilabel_rows(120, 3)
    columns = ["pos", "neg", "food"]
    train = write_columns(tmp_path / "train.csv", rows, columns)
    model, artifact = tmp_path / "model", tmp_path / "model.onnx"
    argv = ["train", str(train), "--out", str(model), "--model", str(tiny_encoder), "--label-columns", "pos,neg,food"]
    code, _, err = _run(argv)
    assert code == 0, err
    assert "multi-label: one 0/1 column per label (3 columns)" in err
    code, _, err = _run(["export", str(model), "--out", str(artifact), "--quantize", "none"])
    assert code == 0, err
    clf = Classifier.load(artifact, threads=1)
    assert list(clf.labels) == columns
    texts = [text for text, _ in rows[:12]]
    expected, _ = _torch_labels(model, texts)
    assert [sorted(labels) for labels in clf.predict(texts)] == expected


def test_the_gate_counts_a_text_as_one_flip_when_any_of_its_labels_changes_at_its_threshold():
    thresholds = np.array([0.5, 0.3, 0.7])
    fp32 = np.array([[0.6, 0.2, 0.1], [0.1, 0.1, 0.9], [0.45, 0.35, 0.8], [0.2, 0.2, 0.2]])
    candidate = fp32.copy()
    candidate[0] = [0.4, 0.31, 0.1]  # two labels change: one text flipped
    candidate[1] = [0.1, 0.1, 0.69]  # one label changes
    candidate[3] = [0.25, 0.15, 0.3]  # the argmax moves, no decision does: not a flip
    record = agreement(fp32, candidate, thresholds)
    assert record.flips == 2 and record.texts == 4
    assert agreement(fp32, candidate).flips == 1  # argmax counting would see only the text no decision changed on


def test_eval_jsonl_keeps_every_texts_labels_as_a_list(trained):
    rows = [json.loads(line) for line in (trained[0] / "eval.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(isinstance(row["label"], list) for row in rows) and any(row["label"] == [] for row in rows)
