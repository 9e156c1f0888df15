"""`probe train` on multi-label data: what the command line becomes (`TrainJob`), when the data is taken for
multi-label and how that is said, the library run (`train_multilabel`) and the model directory it leaves.
Real tiny encoder, real data (tests/train/multilabel_rows.py)."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from probe_export.cli import build_parser, main
from probe_runtime.choices import Task
from probe_runtime.errors import UsageError
from probe_train.cli import train_job
from probe_train.encoder import load_encoder
from probe_train.model_dir import load_trained, save_trained
from probe_train.multilabel.data import load_multilabel
from probe_train.multilabel.thresholds import Goal
from probe_train.multilabel.training import MultiLabelRequest, train_multilabel
from probe_train.multilabel.training_cli import detection
from probe_train.settings import ProbeSettings

from tests.conftest import synthetic_rows, write_csv
from tests.train.multilabel_rows import LABELS, multilabel_rows, write_cells


def _job(*argv: str):
    return train_job(build_parser().parse_args(["train", "data.csv", "--out", "m", *argv]))


def test_the_command_line_reads_into_the_jobs_multi_label_fields():
    job = _job("--label-columns", "toxic, insult,threat", "--threshold-target", "precision=0.9")
    assert job.label_columns == ("toxic", "insult", "threat") and job.multi_label is None
    assert job.threshold_target.goal is Goal.PRECISION and job.threshold_target.value == 0.9
    assert _job("--multi-label").multi_label is True and _job("--single-label").multi_label is False
    assert _job().threshold_target.goal is Goal.F1 and _job().label_separator is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--label-columns", "a,,b"], "has an empty column name"),
        (["--label-columns", "a,b,a"], "names a column twice"),
        (["--label-columns", "a,b", "--label-separator", ";"], "--label-separator is for a label column"),
        (["--single-label", "--label-separator", ";"], "--single-label and --label-separator contradict"),
        (["--threshold-target", "accuracy"], "write f1, precision=0.9 or recall=0.8"),
    ],
)
def test_contradicting_or_malformed_multi_label_options_are_one_usage_line(argv, message):
    with pytest.raises(UsageError, match=message):
        _job(*argv)


def test_detection_says_why_and_flags_override_the_data(tmp_path):
    cells = write_cells(tmp_path / "tags.csv", multilabel_rows(20, 1))
    single = write_csv(tmp_path / "single.csv", synthetic_rows(20, 1))
    found = detection(_with_data(_job(), cells))
    assert found.multilabel and "several labels in 'label'" in found.reason and str(cells) in found.reason
    assert not detection(_with_data(_job(), single)).multilabel
    assert detection(_with_data(_job("--multi-label"), single)).reason == "multi-label: as set (--multi-label)"
    assert not detection(_with_data(_job("--single-label"), cells)).multilabel


def _with_data(job, data: Path):
    return replace(job, data=str(data))


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        return main(argv), err.getvalue()


def test_single_label_data_trains_as_before_without_a_detection_line(tiny_encoder, tiny_data, tmp_path):
    train, test = tiny_data
    code, err = _run(["train", str(train), "--test", str(test), "--out", str(tmp_path / "m"), "-m", str(tiny_encoder)])
    assert code == 0 and "multi-label" not in err and "single-label" not in err
    assert load_trained(tmp_path / "m").task is Task.SINGLE_LABEL


def test_without_test_a_seeded_share_is_held_out_and_an_empty_label_cell_is_a_text_with_no_label(
    tiny_encoder, tmp_path
):
    data = write_cells(tmp_path / "tags.csv", multilabel_rows(100, 4))
    code, err = _run(["train", str(data), "--out", str(tmp_path / "m"), "-m", str(tiny_encoder), "--test-size", "0.25"])
    assert code == 0, err
    model = load_trained(tmp_path / "m")
    assert model.report.n == 25 and model.report.n_train == 75
    assert any(sum(row) == 0 for row in model.eval_y)


def test_a_precision_target_sets_each_threshold_for_that_precision_on_the_held_out_predictions(tiny_encoder, tmp_path):
    data = load_multilabel(write_cells(tmp_path / "tags.csv", multilabel_rows(120, 5)))
    encoder = load_encoder(str(tiny_encoder))
    target = _job("--threshold-target", "precision=0.95").threshold_target
    trained = train_multilabel(MultiLabelRequest(data, encoder, ProbeSettings(normalize=False), target))
    figures = trained.settings.threshold_figures or {}
    assert trained.thresholds is not None and trained.thresholds.target == "precision=0.95"
    for label in LABELS:
        assert figures[label]["precision"] >= 0.95 or not figures[label]["reached"]
    assert trained.settings.normalize_chosen_by == "setting" and trained.report.n is None  # no test: no figures
    out = save_trained(trained, tmp_path / "m")
    assert load_trained(out).thresholds == trained.thresholds


def test_a_directory_from_before_multi_label_loads_as_single_label(tiny_trained, tmp_path):
    model = shutil.copytree(tiny_trained, tmp_path / "old")
    config = json.loads((model / "config.json").read_text())
    config.pop("task", None), config.pop("thresholds", None)
    (model / "config.json").write_text(json.dumps(config))
    loaded = load_trained(model)
    assert loaded.task is Task.SINGLE_LABEL and loaded.thresholds is None
    assert isinstance(loaded.eval_y[0], int) and np.asarray(loaded.eval_y).ndim == 1
