"""Labelled data: formats, label handling, and an error that names file, line and fix for each mistake."""

from __future__ import annotations

import json

import numpy as np
import pytest
from probe_train.data import align_labels, holdout_split, load_dataset
from probe_train.errors import DataError


def write(tmp_path, name, content, mode="w"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_csv_with_integer_labels_gives_integer_labels_in_sorted_order(tmp_path):
    data = load_dataset(write(tmp_path, "d.csv", "text,label\nb,10\na,2\nc,2\n"))
    assert data.labels == [2, 10]
    assert data.texts == ["b", "a", "c"]
    assert data.y.tolist() == [1, 0, 0]


def test_string_labels_are_kept_and_sorted(tmp_path):
    data = load_dataset(write(tmp_path, "d.csv", "text,label\nx,spam\ny,ham\n"))
    assert data.labels == ["ham", "spam"]


def test_tsv_and_jsonl_and_custom_columns(tmp_path):
    tsv = load_dataset(write(tmp_path, "d.tsv", "msg\tcls\nhello\ta\nbye\tb\n"), "msg", "cls")
    assert tsv.texts == ["hello", "bye"]
    lines = [json.dumps({"body": "hi", "y": 1}), "", json.dumps({"body": "yo", "y": 0})]
    jsonl = load_dataset(write(tmp_path, "d.jsonl", "\n".join(lines)), "body", "y")
    assert jsonl.labels == [0, 1] and jsonl.texts == ["hi", "yo"]


def test_quoted_multiline_csv_fields_and_a_bom_are_read(tmp_path):
    path = write(tmp_path, "d.csv", '\ufefftext,label\n"line one\nline two",a\nplain,b\n')
    assert load_dataset(path).texts == ["line one\nline two", "plain"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", r"empty\.csv is empty"),
        ("header.csv", "text,label\n", "has a header but no examples"),
        ("cols.csv", "sentence,label\nhi,a\n", r"no column 'text'.*\['sentence', 'label'\].*--text-column"),
        ("one.csv", "text,label\nhi,a\nyo,a\n", "at least two classes"),
        ("blank.csv", "text,label\nhi,a\n  ,b\n", r"blank\.csv, line 3: the text is empty"),
        ("nolabel.csv", "text,label\nhi,a\nyo,\n", r"line 3: the label is empty"),
        ("bad.jsonl", '{"text": "hi", "label": 1}\n{oops\n', r"bad\.jsonl, line 2: not valid JSON"),
        ("field.jsonl", '{"txt": "hi", "label": 1}\n', r"line 1: no field 'text'"),
        ("short.csv", "text,label,extra\nhi\n", r"line 2: 1 fields"),
        ("data.xlsx", "whatever", "unsupported file type"),
    ],
)
def test_bad_data_is_reported_with_file_line_and_fix(tmp_path, name, content, message):
    with pytest.raises(DataError, match=message):
        load_dataset(write(tmp_path, name, content))


def test_undecodable_bytes_name_the_line(tmp_path):
    path = write(tmp_path, "latin.csv", b"text,label\nfine,a\ncaf\xe9,b\n", mode="wb")
    with pytest.raises(DataError, match=r"latin\.csv, line 3: bytes that are not UTF-8"):
        load_dataset(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_dataset(tmp_path / "nope.csv")


def test_holdout_split_is_seeded_and_stratified(tmp_path):
    rows = "".join(f"t{i},{'a' if i % 4 else 'b'}\n" for i in range(40))
    data = load_dataset(write(tmp_path, "d.csv", "text,label\n" + rows))
    train, test = holdout_split(data, 0.25, seed=7)
    again, _ = holdout_split(data, 0.25, seed=7)
    assert train.texts == again.texts
    assert len(test) == 10 and sorted(set(train.texts) | set(test.texts)) == sorted(data.texts)
    assert np.bincount(test.y).tolist() == [7, 3]  # 30 'a' : 10 'b', kept in proportion


def test_a_class_too_small_to_split_is_refused_with_the_fix(tmp_path):
    data = load_dataset(write(tmp_path, "d.csv", "text,label\n" + "x,a\n" * 10 + "y,b\n"))
    with pytest.raises(DataError, match=r"\{'b': 1\}.*--test"):
        holdout_split(data, 0.2, seed=0)


def test_test_labels_are_mapped_onto_the_training_label_order(tmp_path):
    train = load_dataset(write(tmp_path, "train.csv", "text,label\na,0\nb,1\n"))
    only_ones = load_dataset(write(tmp_path, "test.csv", "text,label\nc,1\nd,1\n"), min_classes=1)
    test = align_labels(only_ones, train.labels)
    assert test.y.tolist() == [1, 1]


def test_a_test_label_unknown_to_training_is_refused(tmp_path):
    train = load_dataset(write(tmp_path, "train.csv", "text,label\na,x\nb,y\n"))
    test = load_dataset(write(tmp_path, "test.csv", "text,label\nc,x\nd,z\n"))
    with pytest.raises(DataError, match=r"\['z'\] do not occur in the training data"):
        align_labels(test, train.labels)
