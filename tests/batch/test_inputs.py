"""Inputs from a list, or from a JSON Lines or CSV file read a line at a time."""

from __future__ import annotations

import pytest

from airflow_provider_huggingface.batch.inputs import FileInputs, ListInputs, open_inputs
from airflow_provider_huggingface.exceptions import ConfigurationError


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
