"""Reading inputs for `probe-runtime classify`: every kind of file, every encoding accident, row by row."""

from __future__ import annotations

import io
import sys

import pytest
from probe_runtime.errors import InputError
from probe_runtime.files import ByteCounter, InputChanged, Row, input_size, read_rows


def rows(path, **kwargs) -> list[Row]:
    return list(read_rows(str(path), **kwargs))


def test_a_text_file_gives_one_row_per_line_with_its_line_number(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_bytes(b"first\nsecond\nthird")
    assert rows(path) == [Row(1, "first"), Row(2, "second"), Row(3, "third")]


def test_a_bom_and_crlf_line_ends_do_not_leak_into_the_texts(tmp_path):
    path = tmp_path / "windows.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\ntwo\r\n")
    assert rows(path) == [Row(1, "one"), Row(2, "two")]


def test_empty_and_whitespace_only_lines_are_rows_so_line_numbers_stay_true(tmp_path):
    path = tmp_path / "gaps.txt"
    path.write_bytes(b"a\n\n   \nb\n")
    assert [(r.id, r.text) for r in rows(path)] == [(1, "a"), (2, ""), (3, "   "), (4, "b")]


def test_csv_reads_the_named_column_and_ids_rows_by_the_line_they_start_on(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b'\xef\xbb\xbftext,label\r\n"multi\r\nline",x\r\nplain,y\r\n')
    assert rows(path) == [Row(2, "multi\r\nline"), Row(4, "plain")]


def test_tsv_and_an_id_column(tmp_path):
    path = tmp_path / "data.tsv"
    path.write_text("key\tbody\nk1\thello\nk2\tworld\n", encoding="utf-8")
    assert rows(path, text_column="body", id_column="key") == [Row("k1", "hello"), Row("k2", "world")]


def test_jsonl_reads_the_named_field_and_skips_blank_lines(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"body": "hi", "n": 7}\n\n{"body": "there", "n": 8}\n', encoding="utf-8")
    assert rows(path, text_column="body") == [Row(1, "hi"), Row(3, "there")]
    assert rows(path, text_column="body", id_column="n") == [Row(7, "hi"), Row(8, "there")]


def test_a_directory_gives_one_row_per_txt_file_recursively_in_path_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "inner.txt").write_text("inner\ntext", encoding="utf-8")
    (tmp_path / "a.txt").write_bytes(b"\xef\xbb\xbfalpha")
    (tmp_path / "notes.md").write_text("not a .txt file", encoding="utf-8")
    assert rows(tmp_path) == [
        Row(str(tmp_path / "a.txt"), "alpha"),
        Row(str(tmp_path / "b" / "inner.txt"), "inner\ntext"),
    ]


def test_stdin_is_read_as_plain_text_unless_told_otherwise(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x\ny\n")))
    assert rows("-") == [Row(1, "x"), Row(2, "y")]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"text": "z"}\n')))
    assert rows("-", fmt="jsonl") == [Row(1, "z")]


BAD = b"good line\nbad \xff\xfe line\nlast\n"


def test_undecodable_bytes_stop_with_the_file_line_and_the_fix(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(BAD)
    with pytest.raises(InputError, match=r"latin1\.txt, line 2: .*not UTF-8 at column 5.*--errors"):
        rows(path)


def test_errors_replace_keeps_the_row_with_replacement_characters(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(BAD)
    assert [r.text for r in rows(path, errors="replace")] == ["good line", "bad \ufffd\ufffd line", "last"]


def test_errors_skip_marks_the_row_instead_of_dropping_it_silently(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(BAD)
    got = rows(path, errors="skip")
    assert [(r.id, r.skip) for r in got] == [(1, None), (2, "undecodable"), (3, None)]


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("bad.csv", b'text\nok\n"spans\n\xff lines"\nfine\n', 3),
        ("bad.jsonl", b'{"text": "ok"}\n{"text": "\xff"}\n', 2),
    ],
)
def test_structured_files_name_the_bad_line_and_can_skip_the_record(tmp_path, name, content, line):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=rf"{name}, line {line + (1 if name.endswith('csv') else 0)}"):
        rows(path)
    skipped = [r for r in rows(path, errors="skip") if r.skip]
    assert [r.id for r in skipped] == [line]


def test_an_undecodable_file_in_a_directory_is_named_with_its_line(tmp_path):
    (tmp_path / "doc.txt").write_bytes(b"fine\nfine\n\xff\n")
    with pytest.raises(InputError, match=r"doc\.txt, line 3"):
        rows(tmp_path)
    assert rows(tmp_path, errors="skip")[0].skip == "undecodable"


def test_a_one_megabyte_line_is_one_row(tmp_path):
    path = tmp_path / "long.txt"
    big = "word " * 200_000
    path.write_text(f"short\n{big}\nshort again\n", encoding="utf-8")
    got = rows(path)
    assert [len(r.text) for r in got] == [5, len(big), 11]


@pytest.mark.parametrize(
    ("name", "content", "options", "message"),
    [
        ("data.csv", b"body\nx\n", {}, r"no column 'text'.*--text-column"),
        ("data.csv", b"", {}, r"is empty"),
        ("data.jsonl", b'{"body": "x"}\n', {}, r"line 1: no field 'text'.*--text-column"),
        ("data.jsonl", b"[1, 2]\n", {}, r"line 1: expected a JSON object"),
        ("data.jsonl", b"{oops\n", {}, r"line 1: not valid JSON"),
        ("data.jsonl", b'{"text": 3}\n', {}, r"line 1: field 'text' is int, not a string"),
        ("data.csv", b"text\nx\n", {"id_column": "key"}, r"no column 'key'.*--id-column"),
    ],
)
def test_malformed_inputs_get_an_error_naming_the_file_and_the_fix(tmp_path, name, content, options, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        rows(path, **options)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match="input file not found"):
        rows(tmp_path / "nope.txt")


def test_the_byte_counter_reaches_the_input_size(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.txt").write_text("hello", encoding="utf-8")
    path = tmp_path / "lines.csv"
    path.write_text("text\nalpha\nbeta\n", encoding="utf-8")
    for source in (path, tmp_path / "d"):
        counter = ByteCounter()
        list(read_rows(str(source), counter=counter))
        assert counter.n == input_size(str(source)) > 0


def test_a_row_with_more_fields_than_the_header_names_its_line_instead_of_dropping_text(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,score\nfine,1\nhello, world,2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"data\.csv, line 3: the row has 3 fields, the header has 2\. Quote a text"):
        rows(path)


def test_line_separators_and_form_feeds_stay_inside_their_line_or_field(tmp_path):
    text = tmp_path / "lines.txt"
    text.write_text("one\u2028still one\x0cand one\ntwo\n", encoding="utf-8")
    assert rows(text) == [Row(1, "one\u2028still one\x0cand one"), Row(2, "two")]
    table = tmp_path / "data.tsv"
    table.write_text("text\na\u2029b\x1cc\n", encoding="utf-8")
    assert rows(table) == [Row(2, "a\u2029b\x1cc")]


def test_a_json_file_is_read_as_json_lines(tmp_path):
    path = tmp_path / "data.json"
    path.write_text('{"text": "hi"}\n{"text": "yo"}\n', encoding="utf-8")
    assert rows(path) == [Row(1, "hi"), Row(2, "yo")]


def test_labels_are_read_on_request_and_refused_where_there_are_none(tmp_path):
    table = tmp_path / "data.csv"
    table.write_text("label,text\n 7 ,a\nspam,b\n", encoding="utf-8")
    assert rows(table, label_column="label") == [Row(2, "a", label="7"), Row(3, "b", label="spam")]
    lines = tmp_path / "data.txt"
    lines.write_text("a\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"data\.txt: no labels: .*plain text.*Use a \.csv, \.tsv or \.jsonl file"):
        rows(lines, label_column="label")


def _consume(path, n_rows, counter):
    reader = read_rows(str(path), counter=counter)
    for _ in range(n_rows):
        next(reader)
    return reader


def test_the_counter_hashes_what_was_consumed_and_notices_a_changed_prefix(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(b"alpha\nbeta\ngamma\n")
    first = ByteCounter()
    _consume(path, 2, first)
    record = first.consumed()
    assert record == [{"path": str(path), "bytes": 11, "sha256": record[0]["sha256"]}]

    again = ByteCounter()
    again.expect(record)
    assert again.verifying
    list(read_rows(str(path), counter=again))  # same bytes: verified on the way, no error
    assert not again.verifying

    path.write_bytes(b"alphA\nbeta\ngamma\n")  # same size, one byte changed inside the prefix
    changed = ByteCounter()
    changed.expect(record)
    with pytest.raises(InputChanged, match=r"in\.txt changed since the interrupted run \(its first 11 bytes"):
        _consume(path, 2, changed)


def test_appending_after_the_consumed_prefix_is_not_a_change_but_shrinking_is(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(b"alpha\nbeta\n")
    first = ByteCounter()
    _consume(path, 2, first)
    path.write_bytes(b"alpha\nbeta\nmore\n")
    grown = ByteCounter()
    grown.expect(first.consumed())
    assert [r.text for r in read_rows(str(path), counter=grown)] == ["alpha", "beta", "more"]
    grown.finish()
    path.write_bytes(b"alpha\n")
    shrunk = ByteCounter()
    shrunk.expect(first.consumed())
    list(read_rows(str(path), counter=shrunk))
    with pytest.raises(InputChanged):
        shrunk.finish()


def test_a_renamed_file_in_a_directory_changes_its_digest(tmp_path):
    (tmp_path / "a.txt").write_text("same", encoding="utf-8")
    before = ByteCounter()
    list(read_rows(str(tmp_path), counter=before))
    (tmp_path / "a.txt").rename(tmp_path / "b.txt")
    after = ByteCounter()
    list(read_rows(str(tmp_path), counter=after))
    assert before.n == after.n and before.consumed()[0]["sha256"] != after.consumed()[0]["sha256"]
