"""Multi-label data: three layouts read through the one file reader, detection, and one line per mistake."""

from __future__ import annotations

import json

import pytest
from probe_train.errors import DataError
from probe_train.multilabel.data import LabelLayout, detect_multilabel, load_multilabel

CELL = LabelLayout(column="labels")


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def one_line_error(call, *args, **kwargs) -> str:
    with pytest.raises(DataError) as caught:
        call(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_label_cell_holds_several_labels_and_an_empty_cell_holds_none(tmp_path):
    path = write(tmp_path, "d.csv", "text,labels\nthanks!,gratitude|admiration\nhm,\nwow,surprise\n")
    data = load_multilabel(path, layout=CELL)
    assert data.labels == ["admiration", "gratitude", "surprise"]
    assert data.label_sets() == [["admiration", "gratitude"], [], ["surprise"]]
    assert data.support().tolist() == [1, 1, 1]


def test_the_separator_is_settable_and_spaces_around_labels_do_not_count(tmp_path):
    path = write(tmp_path, "d.tsv", "text\tlabels\na\tjoy ; love\nb\tjoy\nc\t\n")
    data = load_multilabel(path, layout=LabelLayout(column="labels", separator=";"))
    assert data.label_sets() == [["joy", "love"], ["joy"], []]


def test_jsonl_takes_a_list_of_labels_and_an_empty_list_for_none(tmp_path):
    rows = [{"text": "a", "tags": ["billing", "bug"]}, {"text": "b", "tags": []}, {"text": "c", "tags": "bug"}]
    path = write(tmp_path, "d.jsonl", "\n".join(json.dumps(r) for r in rows))
    data = load_multilabel(path, layout=LabelLayout(column="tags"))
    assert data.labels == ["billing", "bug"]
    assert data.y.tolist() == [[1, 1], [0, 0], [0, 1]]


def test_one_zero_one_column_per_label_keeps_the_columns_order(tmp_path):
    path = write(tmp_path, "d.csv", "text,toxic,insult,threat\na,1,1,0\nb,0,0,0\nc,true,0,1\nd,0,1,False\n")
    data = load_multilabel(path, layout=LabelLayout(columns=("toxic", "insult", "threat")))
    assert data.labels == ["toxic", "insult", "threat"]
    assert data.y.tolist() == [[1, 1, 0], [0, 0, 0], [1, 0, 1], [0, 1, 0]]


def test_detection_says_in_one_line_which_row_made_the_data_multi_label(tmp_path):
    multi = write(tmp_path, "m.csv", "text,labels\na,joy\nb,joy|love\n")
    single = write(tmp_path, "s.csv", "text,labels\na,joy\nb,love\n")
    found = detect_multilabel(multi, layout=CELL)
    assert found.multilabel and "line 3" in found.reason and "'joy|love'" in found.reason
    assert not detect_multilabel(single, layout=CELL).multilabel
    assert detect_multilabel(single, layout=LabelLayout(columns=("a", "b"))).multilabel


def test_an_evaluation_file_is_read_in_the_training_label_order_and_may_lack_a_label(tmp_path):
    path = write(tmp_path, "dev.csv", "text,labels\na,love\nb,\n")
    data = load_multilabel(path, layout=CELL, labels=["joy", "love"])
    assert data.labels == ["joy", "love"]
    assert data.y.tolist() == [[0, 1], [0, 0]]


def test_a_separator_that_splits_nothing_is_refused_naming_the_one_that_would(tmp_path):
    path = write(tmp_path, "d.csv", "text,labels\na,joy|love\nb,joy\n")
    message = one_line_error(load_multilabel, path, layout=LabelLayout(column="labels", separator=";"))
    assert str(path) in message and "';' splits no label cell" in message and "'|' does (line 2" in message


def test_a_named_separator_that_splits_no_cell_at_all_is_refused(tmp_path):
    path = write(tmp_path, "d.csv", "text,labels\na,joy\nb,love\n")
    message = one_line_error(load_multilabel, path, layout=LabelLayout(column="labels", separator="|"))
    assert "'|' splits no label cell in column 'labels'" in message and "train single-label" in message


def test_a_label_column_that_is_never_1_is_refused(tmp_path):
    path = write(tmp_path, "d.csv", "text,toxic,threat\na,1,0\nb,0,0\n")
    message = one_line_error(load_multilabel, path, layout=LabelLayout(columns=("toxic", "threat")))
    assert str(path) in message and "column 'threat' is 0 on every row" in message and "label_columns" in message


def test_a_label_on_every_row_is_refused(tmp_path):
    path = write(tmp_path, "d.csv", "text,labels\na,joy|love\nb,joy\n")
    assert "label 'joy' applies to every row" in one_line_error(load_multilabel, path, layout=CELL)


def test_a_zero_one_column_holding_2_names_file_line_and_column(tmp_path):
    path = write(tmp_path, "d.csv", "text,toxic,insult\na,1,0\nb,0,2\n")
    message = one_line_error(load_multilabel, path, layout=LabelLayout(columns=("toxic", "insult")))
    assert (
        message.startswith(f"{path}, line 3: column 'insult' holds '2'") and "0 (the label does not apply)" in message
    )


def test_an_empty_zero_one_cell_is_refused(tmp_path):
    path = write(tmp_path, "d.csv", "text,toxic,insult\na,1,\nb,0,1\n")
    assert "line 2: column 'insult' empty" in one_line_error(
        load_multilabel, path, layout=LabelLayout(columns=("toxic", "insult"))
    )


def test_a_missing_value_spelling_is_not_a_text_without_labels(tmp_path):
    path = write(tmp_path, "d.csv", "text,labels\na,joy|love\nb,NaN\n")
    assert "line 3: the label cell is 'NaN', a missing value. Leave it empty" in one_line_error(
        load_multilabel, path, layout=CELL
    )


def test_an_empty_label_between_separators_is_refused(tmp_path):
    path = write(tmp_path, "d.csv", "text,labels\na,joy||love\nb,joy\n")
    assert "line 2: the label cell 'joy||love' has an empty label" in one_line_error(load_multilabel, path, layout=CELL)


def test_a_json_label_field_that_is_not_a_list_of_names_is_refused(tmp_path):
    path = write(tmp_path, "d.jsonl", '{"text": "a", "labels": ["joy", 1.5]}\n')
    assert "line 1: field 'labels' holds ['joy', 1.5]; write a JSON list" in one_line_error(
        load_multilabel, path, layout=CELL
    )


def test_an_evaluation_label_the_training_data_never_had_is_refused(tmp_path):
    path = write(tmp_path, "dev.csv", "text,labels\na,joy|rage\n")
    message = one_line_error(load_multilabel, path, layout=CELL, labels=["joy", "love"])
    assert "labels ['rage'] do not occur in the training data" in message


def test_a_missing_label_column_names_the_option(tmp_path):
    path = write(tmp_path, "d.csv", "text,toxic\na,1\n")
    message = one_line_error(load_multilabel, path, layout=LabelLayout(columns=("toxic", "insult")))
    assert "no column 'insult'" in message and "--label-columns" in message


def test_an_empty_text_and_an_empty_file_are_refused(tmp_path):
    empty_text = write(tmp_path, "d.csv", "text,labels\n ,joy\nb,love|joy\n")
    assert "line 2: the text is empty" in one_line_error(load_multilabel, empty_text, layout=CELL)
    assert "is empty" in one_line_error(load_multilabel, write(tmp_path, "e.csv", ""), layout=CELL)
    assert "data file not found" in one_line_error(load_multilabel, tmp_path / "nope.csv", layout=CELL)
