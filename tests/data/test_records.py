"""Reading files: every file type, positions of records, and one-line errors with file:line:col."""

from __future__ import annotations

import pytest

from framework.data.records import Record, read_records
from framework.errors import DataError


def one_line(exc: pytest.ExceptionInfo[DataError]) -> str:
    text = str(exc.value)
    assert "\n" not in text, text
    return text


def test_jsonl_lines_are_one_based_and_blank_lines_skipped(kit):
    path = kit.text("a.jsonl", '{"text": "a"}\n\n{"text": "b"}\n')
    records = read_records(path)
    assert records == [Record({"text": "a"}, str(path), 1), Record({"text": "b"}, str(path), 3)]


def test_json_array_elements_keep_their_own_line(kit):
    path = kit.json("a.json", [{"text": "a"}, {"text": "b", "x": [1, 2]}])
    records = read_records(path)
    lines = path.read_text().splitlines()
    for record in records:
        assert lines[record.line - 1].strip() == "{", record
    assert [r.data["text"] for r in records] == ["a", "b"]


def test_json_single_object_and_jsonl_saved_as_json(kit):
    assert len(read_records(kit.text("one.json", '{"text": "a"}'))) == 1
    records = read_records(kit.text("lines.json", '{"text": "a"}\n{"text": "b"}\n'))
    assert [r.line for r in records] == [1, 2]


def test_malformed_jsonl_names_file_line_column(kit):
    path = kit.text("bad.jsonl", '{"text": "a"}\n{"text": "b",, }\n')
    with pytest.raises(DataError) as exc:
        read_records(path)
    assert f"{path}:2:14:" in one_line(exc)
    assert "invalid JSON" in str(exc.value)


def test_malformed_json_array_names_file_line_column(kit):
    path = kit.text("bad.json", '[\n  {"text": "a"},\n  {"text": "b"\n  {"text": "c"}\n]')
    with pytest.raises(DataError) as exc:
        read_records(path)
    assert f"{path}:4:3:" in one_line(exc)


def test_unclosed_json_array(kit):
    path = kit.text("open.json", '[{"text": "a"},\n {"text": "b"}\n')
    with pytest.raises(DataError) as exc:
        read_records(path)
    assert f"{path}:3:1:" in one_line(exc) and "not closed" in str(exc.value)


def test_json_value_that_is_not_an_object(kit):
    path = kit.text("list.jsonl", '{"text": "a"}\n["text", "b"]\n')
    with pytest.raises(DataError) as exc:
        read_records(path)
    assert f"{path}:2:" in one_line(exc) and "not an object" in str(exc.value)


def test_non_utf8_names_line_and_byte_offset(kit):
    path = kit.raw("gbk.jsonl", b'{"text": "ok"}\n{"text": "' + "退货".encode("gbk") + b'"}\n')
    with pytest.raises(DataError) as exc:
        read_records(path)
    message = one_line(exc)
    assert f"{path}:2:11:" in message and "byte offset 25" in message and "UTF-8" in message


def test_utf16_file_is_named(kit):
    path = kit.raw("u16.jsonl", '{"text": "a"}'.encode("utf-16"))
    with pytest.raises(DataError, match="UTF-16"):
        read_records(path)


def test_byte_order_mark_is_dropped(kit):
    path = kit.raw("bom.csv", "\ufeffinstruction,output\nq,a\n".encode())
    assert read_records(path)[0].data == {"instruction": "q", "output": "a"}


@pytest.mark.parametrize("content", ["", "  \n\n"])
def test_empty_file(kit, content):
    path = kit.text("empty.jsonl", content)
    with pytest.raises(DataError) as exc:
        read_records(path)
    assert one_line(exc).startswith(f"{path}: the data file is empty")


def test_empty_json_array(kit):
    with pytest.raises(DataError, match="no records"):
        read_records(kit.text("none.json", "[]"))


def test_missing_path(tmp_path):
    with pytest.raises(DataError) as exc:
        read_records(tmp_path / "nope.jsonl")
    assert "does not exist" in one_line(exc)


def test_unsupported_suffix(kit):
    with pytest.raises(DataError, match="unsupported data file type '.xlsx'"):
        read_records(kit.raw("a.xlsx", b"PK"))


def test_csv_rows_start_lines_and_quoted_newlines(kit):
    path = kit.csv(
        "a.csv", ["instruction", "input", "output"], [["q1", "", "a1"], ["q2", "x", "two\nlines"], ["q3", "", "a3"]]
    )
    records = read_records(path)
    assert [r.line for r in records] == [2, 3, 5]
    assert records[1].data == {"instruction": "q2", "input": "x", "output": "two\nlines"}


def test_csv_row_with_too_many_fields(kit):
    path = kit.text("a.csv", "instruction,output\nq,a\nq2,a,b,c\n")
    with pytest.raises(DataError) as exc:
        read_records(path)
    assert f"{path}:3:" in one_line(exc) and "4 fields" in str(exc.value)


def test_csv_short_row_leaves_field_missing(kit):
    path = kit.text("a.csv", "instruction,output\nq\n")
    assert read_records(path)[0].data == {"instruction": "q"}


def test_csv_bad_header(kit):
    with pytest.raises(DataError, match="header"):
        read_records(kit.text("a.csv", "instruction,instruction\nq,a\n"))


def test_csv_unterminated_quote(kit):
    path = kit.text("a.csv", 'instruction,output\nq,"never closed\n')
    with pytest.raises(DataError) as exc:
        read_records(path)
    assert "invalid CSV" in one_line(exc)


def test_parquet_rows_and_nested_messages(kit):
    rows = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}] * 2
    records = read_records(kit.parquet("a.parquet", rows))
    assert [r.line for r in records] == [1, 2]
    assert records[0].data == rows[0]


def test_not_a_parquet_file(kit):
    with pytest.raises(DataError) as exc:
        read_records(kit.raw("a.parquet", b"not parquet at all"))
    assert "Parquet" in one_line(exc)


def test_text_file_one_record_per_line(kit):
    records = read_records(kit.text("a.txt", "first line\n\nsecond line\r\n"))
    assert [(r.data["text"], r.line) for r in records] == [("first line", 1), ("second line", 3)]


def test_directory_is_read_recursively_in_order(kit):
    kit.jsonl("d/b.jsonl", [{"text": "b"}])
    kit.jsonl("d/a/x.jsonl", [{"text": "x"}])
    kit.text("d/notes.md", "# not data")
    kit.jsonl("d/.hidden/h.jsonl", [{"text": "h"}])
    records = read_records(kit.root / "d")
    assert [r.data["text"] for r in records] == ["x", "b"]


def test_directory_without_data(kit):
    kit.text("d/readme.md", "hi")
    with pytest.raises(DataError) as exc:
        read_records(kit.root / "d")
    assert "no data files" in one_line(exc) and "readme.md" in str(exc.value)


def test_empty_directory(kit):
    (kit.root / "empty").mkdir()
    with pytest.raises(DataError, match="found: nothing"):
        read_records(kit.root / "empty")
