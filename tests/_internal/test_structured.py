"""structured.py: which formats ask for JSON, how a reply is parsed and checked, the re-ask."""

from __future__ import annotations

import pytest

from airflow_provider_huggingface._internal.structured import parse_reply, reask, schema_of, wants_json
from airflow_provider_huggingface.exceptions import StructuredOutputError

ITEMS = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "items": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
        },
        "n": {"type": "integer"},
    },
    "required": ["items", "n"],
}
OPENAI = {"type": "json_schema", "json_schema": {"name": "listing", "schema": ITEMS}}
JSON_OBJECT = {"type": "json_object"}


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        (None, False),
        ({}, False),
        ({"type": "text"}, False),
        (JSON_OBJECT, True),
        (OPENAI, True),
        ({"type": "json", "value": ITEMS}, True),
        ({"type": "json_object", "value": ITEMS}, True),
        ({"type": "regex", "value": "a+"}, False),
    ],
)
def test_wants_json(response_format, expected):
    assert wants_json(response_format) is expected


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        (OPENAI, ITEMS),
        ({"type": "json", "value": ITEMS}, ITEMS),  # TGI's grammar form
        ({"type": "json_object", "value": ITEMS}, ITEMS),  # what huggingface_hub sends an endpoint
        (JSON_OBJECT, None),
        ({"type": "json_schema", "json_schema": {"name": "x"}}, None),
        ({"type": "json_object", "value": "not a schema"}, None),
    ],
)
def test_schema_of(response_format, expected):
    assert schema_of(response_format) == expected


@pytest.mark.parametrize(
    "reply",
    [
        '{"a": [1, 2]}',
        '  {"a": [1, 2]}\n',
        '```json\n{"a": [1, 2]}\n```',
        '```\n{"a": [1, 2]}\n```',
        '\n```json\n{"a": [1, 2]}```  \n',
    ],
)
def test_plain_and_fenced_json_parse(reply):
    assert parse_reply(reply, JSON_OBJECT) == {"a": [1, 2]}


def test_json_object_wants_an_object():
    assert parse_reply("{}", JSON_OBJECT) == {}
    for reply in ("[1, null, true]", "42", '"text"', "null"):
        with pytest.raises(StructuredOutputError, match="JSON but not an object"):
            parse_reply(reply, JSON_OBJECT)


@pytest.mark.parametrize(
    ("reply", "where", "excerpt"),
    [
        ('{"a": 1,}', "at line 1 column ", "'{\"a\": 1,}'"),  # 9 before Python 3.13, then 8
        ('{\n  "a": [1, 2\n', "at line 3 column 1", "'{\\n  \"a\": [1, 2'"),
        ("", "Expecting value at line 1 column 1", "''"),
        ('Sure! Here it is: {"a": 1}', "Expecting value at line 1 column 1", "'Sure! Here it is:"),
        ('```json\n{"a": }\n```', "at line 1 column 7", "'{\"a\": }'"),  # the position inside the fence
    ],
)
def test_invalid_json_names_the_position_and_shows_the_reply(reply, where, excerpt):
    import json
    import re

    body = re.sub(r"^```json\n|\n```$", "", reply)
    with pytest.raises(json.JSONDecodeError) as decoding:
        json.loads(body)
    position = f"at line {decoding.value.lineno} column {decoding.value.colno}"  # as this Python says
    with pytest.raises(StructuredOutputError) as caught:
        parse_reply(reply, JSON_OBJECT)
    message = str(caught.value)
    assert message.startswith("The model's reply is not valid JSON (")
    assert where in message
    assert position in message
    assert excerpt in message
    assert "max_tokens" in message  # the usual cause: a reply cut off


def test_a_long_invalid_reply_is_cut_in_the_message():
    with pytest.raises(StructuredOutputError) as caught:
        parse_reply('{"a": "' + "x" * 5000, JSON_OBJECT)
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize(
    "response_format", [OPENAI, {"type": "json", "value": ITEMS}, {"type": "json_object", "value": ITEMS}]
)
@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ('{"items": [{"name": "a"}, {"nom": 1}], "n": 1}', "at $.items[1]: 'name' is a required property."),
        ('{"items": [], "n": "x"}', "at $.n: 'x' is not of type 'integer'."),
        ("[]", "at $: [] is not of type 'object'."),
        ('{"items": [{"name": 3}]}', "at $: 'n' is a required property (and 1 more problem(s))."),
    ],
)
def test_schema_violations_name_the_path(response_format, reply, problem):
    with pytest.raises(StructuredOutputError) as caught:
        parse_reply(reply, response_format)
    message = str(caught.value)
    assert message.startswith("The model's JSON does not fit the schema: ")
    assert problem in message


@pytest.mark.parametrize(
    "response_format", [OPENAI, {"type": "json", "value": ITEMS}, {"type": "json_object", "value": ITEMS}]
)
def test_a_fitting_reply_is_returned(response_format):
    reply = '```json\n{"items": [{"name": "a"}], "n": 2}\n```'
    assert parse_reply(reply, response_format) == {"items": [{"name": "a"}], "n": 2}


def test_a_schema_violation_message_stays_short():
    with pytest.raises(StructuredOutputError) as caught:
        parse_reply(str(list(range(3000))), OPENAI)
    assert "at $: [0, 1, 2" in str(caught.value)
    assert len(str(caught.value)) < 600


def test_without_a_schema_nothing_is_checked_beyond_json():
    assert parse_reply('{"n": "x"}', JSON_OBJECT) == {"n": "x"}


def test_reask_adds_the_reply_and_the_reason_to_the_conversation():
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    error = StructuredOutputError("The model's JSON does not fit the schema: at $.n: ...")
    asked = reask(messages, "{bad", error)
    assert asked[:2] == messages
    assert asked[2] == {"role": "assistant", "content": "{bad"}
    assert asked[3]["role"] == "user"
    assert str(error) in asked[3]["content"]
    assert asked[3]["content"].endswith("Answer again with only the JSON, nothing else.")
    assert len(messages) == 2  # the original conversation is left alone
