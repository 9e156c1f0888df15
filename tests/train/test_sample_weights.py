"""`probe train --weight-column`: a per-row weight on the training loss, checked like every other column."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import synthetic_rows
from probe_export.cli import main
from probe_runtime.errors import InputError
from probe_runtime.files import read_rows
from probe_train.checkpoint import fingerprint
from probe_train.data import holdout_split, load_dataset
from probe_train.errors import DataError
from probe_train.finetune import weighted_cross_entropy
from probe_train.probe import Search, fit_probe_cv
from probe_train.settings import FinetuneSettings


def _weighted_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", "w"])
        writer.writerows(rows)
    return path


def test_the_reader_gives_each_row_its_weight_from_csv_and_jsonl(tmp_path):
    table = _weighted_csv(tmp_path / "d.csv", [("a", "x", "1"), ("b", "y", " 2.5 "), ("c", "x", "0")])
    assert [r.weight for r in read_rows(str(table), label_column="label", weight_column="w")] == [1.0, 2.5, 0.0]
    lines = tmp_path / "d.jsonl"
    lines.write_text('{"text": "a", "label": 1, "w": 3}\n{"text": "b", "label": 0, "w": "0.5"}\n', encoding="utf-8")
    assert [r.weight for r in read_rows(str(lines), label_column="label", weight_column="w")] == [3.0, 0.5]
    assert all(r.weight is None for r in read_rows(str(table), label_column="label"))  # not asked for


@pytest.mark.parametrize(
    ("cell", "says"),
    [
        ("", "line 2: the weight is empty"),
        ("heavy", "line 2: the weight 'heavy' is not a number"),
        ("-1", "line 2: the weight -1 is not a finite number >= 0"),
        ("inf", "line 2: the weight inf is not a finite number >= 0"),
        ("nan", "line 2: the weight nan is not a finite number >= 0"),
    ],
)
def test_a_weight_that_is_not_a_number_of_at_least_zero_is_refused_with_its_line(tmp_path, cell, says):
    table = _weighted_csv(tmp_path / "d.csv", [("a", "x", cell), ("b", "y", "1")])
    with pytest.raises(InputError, match=says):
        list(read_rows(str(table), label_column="label", weight_column="w"))


def test_a_json_weight_must_be_a_number_not_a_boolean_or_null(tmp_path):
    for value in ("true", "null", "[1]"):
        lines = tmp_path / "d.jsonl"
        lines.write_text(f'{{"text": "a", "label": 1, "w": {value}}}\n', encoding="utf-8")
        with pytest.raises(InputError, match=r"line 1: the weight .* is not a number"):
            list(read_rows(str(lines), label_column="label", weight_column="w"))


def test_a_missing_weight_column_names_the_header_and_the_option(tmp_path):
    table = _weighted_csv(tmp_path / "d.csv", [("a", "x", "1"), ("b", "y", "1")])
    with pytest.raises(DataError, match=r"no column 'weight'.*--weight-column"):
        load_dataset(table, weight_column="weight")


def test_a_label_whose_every_row_weighs_zero_is_refused(tmp_path):
    table = _weighted_csv(tmp_path / "d.csv", [("a", "x", "1"), ("b", "y", "0"), ("c", "y", "0")])
    with pytest.raises(DataError, match=r"every example of \['y'\] has weight 0 in column 'w'"):
        load_dataset(table, weight_column="w")


def test_weights_follow_their_rows_through_the_splits(tmp_path):
    rows = [(text, label, str(i)) for i, (text, label) in enumerate(synthetic_rows(40, seed=1))]
    data = load_dataset(_weighted_csv(tmp_path / "d.csv", rows), weight_column="w")
    train, test = holdout_split(data, 0.25, seed=0)
    for part in (train, test):
        assert part.weights is not None
        assert [float(rows[data.texts.index(t)][2]) for t in part.texts[:5]] == part.weights[:5].tolist()


def test_rows_of_weight_zero_are_left_out_of_the_probe_fit():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 8))
    y = (x[:, 0] > 0).astype(np.int64)
    poisoned_x, poisoned_y = x[:100], 1 - y[:100]  # the same points, every label flipped
    both_x, both_y = np.vstack([x, poisoned_x]), np.concatenate([y, poisoned_y])
    weights = np.concatenate([np.ones(200), np.zeros(100)])
    weighted, _ = fit_probe_cv(both_x, both_y, Search(sample_weight=weights))
    unweighted, _ = fit_probe_cv(both_x, both_y)
    assert (weighted.predict(x) == y).mean() > 0.95
    assert (unweighted.predict(x) == y).mean() < (weighted.predict(x) == y).mean()


def test_the_weighted_loss_is_pytorchs_mean_when_every_weight_is_one_and_ignores_rows_of_weight_zero():
    torch.manual_seed(0)
    logits, y = torch.randn(6, 3), torch.tensor([0, 1, 2, 1, 0, 2])
    for class_weight in (None, torch.tensor([1.0, 2.0, 0.5])):
        plain = torch.nn.functional.cross_entropy(logits, y, weight=class_weight)
        torch.testing.assert_close(weighted_cross_entropy(logits, y, class_weight, torch.ones(6)), plain)
        kept = torch.tensor([True, True, False, True, True, True])
        without = torch.nn.functional.cross_entropy(logits[kept], y[kept], weight=class_weight)
        torch.testing.assert_close(weighted_cross_entropy(logits, y, class_weight, kept.float()), without)
    doubled = weighted_cross_entropy(logits, y, None, torch.tensor([2.0, 1, 1, 1, 1, 1]))
    twice = torch.nn.functional.cross_entropy(torch.cat([logits[:1], logits]), torch.cat([y[:1], y]))
    torch.testing.assert_close(doubled, twice)  # a weight of 2 counts the row as two copies
    assert weighted_cross_entropy(logits, y, None, torch.zeros(6)).item() == 0.0


def test_a_resumed_fine_tune_with_other_weights_is_another_run(tmp_path):
    rows = [(text, label, "1") for text, label in synthetic_rows(20, seed=2)]
    data = load_dataset(_weighted_csv(tmp_path / "d.csv", rows), weight_column="w")
    other = load_dataset(_weighted_csv(tmp_path / "e.csv", [(t, lab, "2") for t, lab, _ in rows]), weight_column="w")
    settings = FinetuneSettings()
    assert fingerprint(data, None, settings, "m") != fingerprint(other, None, settings, "m")


@pytest.mark.parametrize("method", ["probe", "finetune"])
def test_train_reads_the_weight_column_and_records_what_it_weighed(tiny_encoder, tmp_path, capsys, method):
    rows = [(text, label, "0" if i % 5 == 0 else "1") for i, (text, label) in enumerate(synthetic_rows(80, seed=4))]
    data = _weighted_csv(tmp_path / "d.csv", rows)
    args = ["train", str(data), "--model", str(tiny_encoder), "--out", str(tmp_path / "m"), "--weight-column", "w"]
    extra = ["--method", "finetune", "--epochs", "1", "--validation-size", "0.25"] if method == "finetune" else []
    assert main(args + extra) == 0
    assert "weighted by column 'w'" in capsys.readouterr().err
    recorded = json.loads((tmp_path / "m" / "config.json").read_text())["settings"]["sample_weight"]
    fitted = 64 if method == "probe" else 48  # after the 20 % test split (and the 25 % validation split)
    assert recorded["zero"] > 0 and recorded["max"] == 1.0 and recorded["rows"] == fitted


def test_a_bad_weight_is_one_line_naming_the_file_and_row(tiny_encoder, tmp_path, capsys):
    rows = [(text, label, "1") for text, label in synthetic_rows(20, seed=4)] + [("one more", "pos", "lots")]
    data = _weighted_csv(tmp_path / "d.csv", rows)
    args = ["train", str(data), "--model", str(tiny_encoder), "--out", str(tmp_path / "m"), "--weight-column", "w"]
    assert main(args) == 1  # a data error, as for any other bad cell
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "d.csv, line 22: the weight 'lots' is not a number" in err
    assert not (tmp_path / "m").exists()
