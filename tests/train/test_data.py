"""Labelled data: formats, label handling, and an error that names file, line and fix for each mistake."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from probe_runtime.files import MAX_FIELD_CHARS
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
        ("short.csv", "text,label,extra\nhi\n", r"line 2: the row has 1 fields, the header has 3"),
        ("data.xlsx", "whatever", "unsupported file type"),
    ],
)
def test_bad_data_is_reported_with_file_line_and_fix(tmp_path, name, content, message):
    with pytest.raises(DataError, match=message):
        load_dataset(write(tmp_path, name, content))


def test_a_row_with_more_fields_than_the_header_is_refused_not_shifted_into_the_label(tmp_path):
    # An unquoted comma in the text: before, "b" became the label of "a" and " good" was dropped.
    path = write(tmp_path, "d.csv", "text,label\nfine,x\na, b, good\nok,y\n")
    with pytest.raises(DataError, match=r"d\.csv, line 3: the row has 3 fields, the header has 2\. Quote a text"):
        load_dataset(path)


def test_csv_fields_may_hold_line_separators_form_feeds_and_quoted_newlines(tmp_path):
    texts = ["para\u2028graph", "page\x0cbreak", "next\u2029one", "vertical\x0btab", "two\r\nlines"]
    rows = [(t, "a" if i % 2 else "b") for i, t in enumerate(texts)]
    path = tmp_path / "d.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("text", "label"), *rows])
    assert load_dataset(path).texts == texts


def test_a_field_over_128_kb_is_read_and_one_beyond_the_bound_names_its_line(tmp_path):
    big = "word " * 60_000  # 300 KB: the csv module's default limit is 128 KB
    data = load_dataset(write(tmp_path, "d.csv", f'text,label\n"{big}",a\nshort,b\n'))
    assert [len(t) for t in data.texts] == [len(big), 5]
    huge = "x" * (MAX_FIELD_CHARS + 1)
    with pytest.raises(DataError, match=r"huge\.csv, line 3: a record longer than 16,777,216 characters"):
        load_dataset(write(tmp_path, "huge.csv", f'text,label\nok,a\n"{huge}",b\n'))


def test_an_unclosed_quote_is_reported_at_the_line_it_opens(tmp_path):
    path = write(tmp_path, "d.csv", 'text,label\nfine,a\n"oops,b\nmore,a\n')
    with pytest.raises(DataError, match=r"line 3: the row has 1 fields.*runs to line 4: check for an unclosed quote"):
        load_dataset(path)


@pytest.mark.parametrize("missing", ["", "  ", "NaN", "nan", "null", "None", "NULL"])
def test_a_missing_label_in_a_csv_is_an_error_not_a_new_class(tmp_path, missing):
    path = write(tmp_path, "d.csv", f"text,label\nhi,a\nyo,b\nhey,{missing}\n")
    with pytest.raises(DataError, match=r"d\.csv, line 4: the label is (empty|'\w+', a missing value)"):
        load_dataset(path)


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("null", "the label is null, a missing value"),
        ("NaN", r"the label NaN is a number with a fraction part"),
        ("1.0", r"the label 1\.0 is a number with a fraction part; .*\(write 1, or \"1\.0\" as a string\)"),
        ("true", "the label true is a boolean"),
        ("[1]", r"the label \[1\] is a list"),
        ('{"a": 1}', r"the label \{\"a\": 1\} is an object"),
        ('"nan"', "the label is 'nan', a missing value"),
        ('" "', "the label is empty"),
    ],
)
def test_a_json_label_that_is_not_a_string_or_an_integer_is_refused_with_its_line(tmp_path, label, message):
    lines = ['{"text": "hi", "label": 0}', '{"text": "yo", "label": 1}', f'{{"text": "hey", "label": {label}}}']
    with pytest.raises(DataError, match=rf"d\.jsonl, line 3: {message}"):
        load_dataset(write(tmp_path, "d.jsonl", "\n".join(lines) + "\n"))


def test_integer_labels_stay_integers_whether_json_numbers_or_csv_digits(tmp_path):
    lines = ['{"text": "a", "label": 1}', '{"text": "b", "label": "0"}', '{"text": "c", "label": -2}']
    from_json = load_dataset(write(tmp_path, "d.jsonl", "\n".join(lines)))
    from_csv = load_dataset(write(tmp_path, "d.csv", "text,label\na,1\nb,0\nc,-2\n"))
    assert from_json.labels == from_csv.labels == [-2, 0, 1]
    assert from_json.label_values() == from_csv.label_values() == [1, 0, -2]
    assert all(type(v) is int for v in from_json.label_values())


def test_a_json_file_is_json_lines_like_everywhere_else(tmp_path):
    data = load_dataset(write(tmp_path, "d.json", '{"text": "hi", "label": "a"}\n{"text": "yo", "label": "b"}\n'))
    assert data.texts == ["hi", "yo"]
    with pytest.raises(DataError, match=r"p\.json, line 1: not valid JSON.*one object per line"):
        load_dataset(write(tmp_path, "p.json", '[\n  {"text": "hi", "label": "a"}\n]\n'))


@pytest.mark.parametrize("name", ["train.txt", "train"])
def test_plain_text_has_no_labels_so_training_on_it_is_refused(tmp_path, name):
    path = write(tmp_path, name, "text,label\nhi,a\nyo,b\n")
    with pytest.raises(DataError, match=rf"{name}: no labels: .*plain text.*Use a \.csv, \.tsv or \.jsonl file"):
        load_dataset(path)


def test_training_and_classify_read_a_file_identically(tmp_path):
    from probe_runtime.files import read_rows

    path = write(tmp_path, "d.csv", '\ufefftext,label\n"a, quoted\nline",x\n"para\u2028graph",y\n')
    assert load_dataset(path).texts == [row.text for row in read_rows(str(path))]


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
