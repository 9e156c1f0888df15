"""benchmarks.data.labelled: benchmarks read a labelled file exactly as `probe train` does, and the subsets they
write are files `probe train` reads back to the same rows."""

from __future__ import annotations

import numpy as np
import pytest
from probe_runtime.errors import InputError
from probe_train.data import load_dataset
from probe_train.errors import DataError

from benchmarks.data import labelled
from tests.conftest import synthetic_rows, write_csv


def test_texts_are_the_training_readers_texts_in_file_order(tmp_path):
    path = write_csv(tmp_path / "train.csv", [("first, quoted", "pos"), ('a "tricky" one', "neg"), ("last", "pos")])
    assert labelled.texts(path) == ["first, quoted", 'a "tricky" one', "last"]


def test_texts_of_a_file_with_one_class_are_read(tmp_path):
    path = write_csv(tmp_path / "test.csv", [("only", "pos"), ("positives", "pos")])
    assert labelled.texts(path) == ["only", "positives"]


def test_a_broken_file_is_the_training_readers_error(tmp_path):
    path = write_csv(tmp_path / "train.csv", [("fine", "pos")], header=("sentence", "label"))
    with pytest.raises(DataError, match="no column 'text'"):
        labelled.texts(path)


def test_a_subsample_is_seeded_in_file_order_and_reads_back_to_the_same_rows(tmp_path):
    src = write_csv(tmp_path / "train.csv", synthetic_rows(50, seed=1))
    first = labelled.subsample(src, tmp_path / "a.csv", 20)
    again = labelled.subsample(src, tmp_path / "b.csv", 20)
    assert first.read_bytes() == again.read_bytes()
    full, subset = load_dataset(src), load_dataset(first)
    keep = sorted(np.random.default_rng(0).permutation(50)[:20])
    assert subset.texts == [full.texts[i] for i in keep]
    assert subset.label_values() == [full.label_values()[i] for i in keep]


def test_written_rows_keep_the_order_given_and_the_labels_as_spelled(tmp_path):
    data = load_dataset(write_csv(tmp_path / "train.csv", [("a", "1"), ("b", "0"), ("c", "1")]))
    out = labelled.write(tmp_path / "out" / "subset.csv", data, [2, 0])
    assert out.read_text(encoding="utf-8").splitlines() == ["text,label", "c,1", "a,1"]
    assert [p.name for p in out.parent.iterdir()] == ["subset.csv"]  # nothing left beside it


def test_records_keep_every_column_as_the_file_spells_it(tmp_path):
    path = tmp_path / "sourced.csv"
    path.write_text('text,label,source,family\n"a, quoted\nline",1,garak,jailbreak\nplain,0,open_assistant,\n')
    assert labelled.records(path) == [
        {"text": "a, quoted\nline", "label": "1", "source": "garak", "family": "jailbreak"},
        {"text": "plain", "label": "0", "source": "open_assistant", "family": ""},
    ]


def test_written_records_read_back_to_the_same_rows_and_appear_whole(tmp_path):
    rows = [{"text": 'say "hi"', "label": "1", "weight": "2.5"}, {"text": "x", "label": "0", "weight": "1"}]
    out = labelled.write_records(tmp_path / "deeper" / "w.csv", rows)
    assert labelled.records(out) == rows
    assert sorted(p.name for p in out.parent.iterdir()) == ["w.csv"]  # no temporary file left beside it


def test_records_of_a_file_with_a_broken_row_is_the_runtime_readers_error(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("text,label,source\nfine,1\n")
    with pytest.raises(InputError, match=r"short\.csv, line 2"):
        labelled.records(path)
