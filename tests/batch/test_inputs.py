"""Inputs from a list, or from a JSON Lines or CSV file read a line at a time."""

from __future__ import annotations

import json

import pytest

from airflow_provider_huggingface.batch.inputs import FileInputs, ListInputs, open_inputs
from airflow_provider_huggingface.exceptions import ConfigurationError
from tests.airflow_internals import task_log


def test_a_list_is_read_again_on_each_pass():
    inputs = open_inputs(x for x in "ab")
    assert isinstance(inputs, ListInputs)
    assert list(inputs) == list(inputs) == ["a", "b"]


def test_a_json_lines_file_gives_one_value_per_line_and_skips_blank_lines(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"q": 1}\n\n"text"\n[1, 2]\n')
    inputs = open_inputs(path.as_uri())
    assert isinstance(inputs, FileInputs)
    assert list(inputs) == [{"q": 1}, "text", [1, 2]]
    assert list(open_inputs(path)) == list(inputs)  # a pathlib.Path too


def test_a_csv_file_gives_one_dict_per_row(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text('q,lang\n"Hello, world",en\nBonjour,fr\n')
    assert list(open_inputs(path.as_uri())) == [
        {"q": "Hello, world", "lang": "en"},
        {"q": "Bonjour", "lang": "fr"},
    ]


def test_a_file_is_read_lazily(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('"a"\n"b"\nnot json\n')
    items = iter(open_inputs(path.as_uri()))
    assert next(items) == "a"  # read before the bad line is met


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("in.jsonl", '"a"\n{"q": \n', ["in.jsonl", "line 2 is not JSON", "one JSON value"]),
        ("in.csv", "q\nx,y\n", ["line 2 has more fields than the header", "quote fields"]),
        ("in.json", "[]", ["must end in .jsonl", ".csv"]),
        ("missing.jsonl", None, ["there is no such file"]),
    ],
)
def test_a_bad_file_is_named_with_the_fix(tmp_path, name, content, words):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigurationError) as error:
        list(open_inputs(path.as_uri()))
    for word in words:
        assert word in str(error.value)


# ---------------------------------------------------------------------------------------------
# Encodings: UTF-8, with or without Excel's byte-order mark; anything else refused, naming the line


def test_a_byte_order_mark_is_no_part_of_the_first_column_or_value(tmp_path):
    csv_file, jsonl_file = tmp_path / "excel.csv", tmp_path / "in.jsonl"
    csv_file.write_bytes("text,lang\r\ncafé,fr\r\n".encode("utf-8-sig"))  # Excel's "CSV UTF-8"
    jsonl_file.write_bytes('{"text": "café"}\n"two"\n'.encode("utf-8-sig"))
    assert list(open_inputs(csv_file.as_uri())) == [{"text": "café", "lang": "fr"}]
    assert list(open_inputs(jsonl_file.as_uri())) == [{"text": "café"}, "two"]


def test_a_file_not_in_utf8_is_refused_naming_the_line_the_byte_and_the_fix(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text\nplain\nun café noir\n".encode("latin-1"))
    with pytest.raises(ConfigurationError) as error:
        list(open_inputs(path.as_uri()))
    message = str(error.value)
    assert f"inputs={path.as_uri()!r} is not UTF-8 (byte 0xe9 at line 3, column 7)." in message
    assert "It looks like Windows-1252 or Latin-1" in message
    assert "'é'" in message
    assert "iconv -f WINDOWS-1252 -t UTF-8" in message


def test_the_line_is_found_far_into_a_large_file(tmp_path):
    # The text layer decodes in chunks; the line is counted again in bytes, as the reader counts it.
    path = tmp_path / "big.jsonl"
    path.write_bytes(b'"ok"\r\n' * 5000 + b'"bad \x81 byte"\n')
    with pytest.raises(ConfigurationError, match=r"byte 0x81 at line 5001, column 6\)\. Save it as UTF-8"):
        list(open_inputs(path.as_uri()))


def test_a_utf16_file_is_named_as_such(tmp_path):
    path = tmp_path / "unicode.jsonl"
    path.write_bytes('"a"\n'.encode("utf-16"))
    with pytest.raises(ConfigurationError, match=r"byte 0xff at line 1, column 1\). It starts like UTF-16"):
        list(open_inputs(path.as_uri()))


def test_lines_end_as_in_text_mode_with_newline_empty(tmp_path):
    # LF, CRLF and a lone CR each end a line; a quoted newline stays inside its field.
    path = tmp_path / "mixed.csv"
    path.write_bytes(b'q,n\r\n"two\nlines",1\na,2\rb,3\r\nc,4')
    assert list(open_inputs(path.as_uri())) == [
        {"q": "two\nlines", "n": "1"},
        {"q": "a", "n": "2"},
        {"q": "b", "n": "3"},
        {"q": "c", "n": "4"},
    ]


# ---------------------------------------------------------------------------------------------
# In DAG runs (tests/dags/hf_inputs.py): what a DAG author meets


@pytest.fixture
def fake_conn(fake_hf, use_connection):
    use_connection(
        "hf_fake", host=fake_hf.url, password="hf_inputstestcanary000001", extra={"max_retries": 0}
    )
    fake_hf.reply = lambda body: f"re: {body['messages'][-1]['content']}"
    return fake_hf


def sent(fake) -> list[str]:
    return sorted(r.body["messages"][-1]["content"] for r in fake.chat_requests)


def batch_try(dag_run) -> tuple[str, int]:
    (ti,) = dag_run.get_task_instances()
    return str(ti.state), ti.try_number


def test_an_excel_csv_utf8_file_gives_its_first_column_by_name(fake_conn, dagbag, tmp_path):
    source = tmp_path / "reviews.csv"
    source.write_bytes("text,stars\r\nGreat café,5\r\nToo loud,2\r\n".encode("utf-8-sig"))
    dag_run = dagbag["hf_inputs_file"].test(run_conf={"inputs": source.as_uri()})
    assert batch_try(dag_run) == ("success", 1)
    assert sent(fake_conn) == ["Great café", "Too loud"]


def test_a_latin1_csv_fails_at_once_naming_file_line_and_encoding(
    fake_conn, dagbag, tmp_path, capsys, caplog
):
    source = tmp_path / "reviews.csv"
    source.write_bytes("text\nfine\nun café noir\n".encode("latin-1"))
    dag_run = dagbag["hf_inputs_file"].test(run_conf={"inputs": source.as_uri()})
    assert batch_try(dag_run) == ("failed", 1)  # the DAG allows a retry: none is spent on it
    assert fake_conn.chat_requests == []
    log = task_log(capsys, caplog)
    assert (
        f"ConfigurationError: inputs={source.as_uri()!r} is not UTF-8 (byte 0xe9 at line 3, column 7)" in log
    )
    assert "Windows-1252 or Latin-1" in log
    assert "UnicodeDecodeError" not in log


def test_inputs_and_output_path_in_a_folder_with_a_space_given_as_file_uris(fake_conn, dagbag, tmp_path):
    folder = tmp_path / "my data"
    folder.mkdir()
    source = folder / "in.jsonl"
    source.write_text('{"text": "one"}\n{"text": "two"}\n')
    out = folder / "replies"
    assert "%20" in source.as_uri()  # what Path.as_uri() and file browsers give
    dag_run = dagbag["hf_inputs_file"].test(run_conf={"inputs": source.as_uri(), "out": out.as_uri()})
    assert batch_try(dag_run) == ("success", 1)
    assert sent(fake_conn) == ["one", "two"]
    (written,) = out.glob("hf_inputs_file/*/batch.jsonl")  # in the folder itself, not in "my%20data"
    assert sorted(json.loads(line)["text"] for line in written.read_text().splitlines()) == [
        "re: one",
        "re: two",
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["my data"]
