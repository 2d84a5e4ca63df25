"""Structured output through HuggingFaceHook: against the fake (what is sent, the one re-ask) and
against a real llama.cpp server (what such a server does with each form of response_format)."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_huggingface.exceptions import StructuredOutputError
from airflow_provider_huggingface.provider_info import DEFAULT_MODEL

TOKEN = "hf_structuredtestcanary0001"
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "count", "schema": SCHEMA}}
JSON_OBJECT = {"type": "json_object"}


@pytest.fixture
def endpoint_hook(fake_hf, make_hook):
    return make_hook(host=fake_hf.url, password=TOKEN, extra={"max_retries": 1})


def answer_after_reask(first: str, second: str):
    """A reply function: ``first`` to the original question, ``second`` once the re-ask follows."""
    return lambda body: second if len(body["messages"]) > 2 else first


# ------------------------------------------------------------------------------------- the fake


def test_json_object_reply_is_parsed_with_one_request(fake_hf, endpoint_hook):
    fake_hf.reply = '```json\n{"n": 3}\n```'
    result = endpoint_hook.chat(user_prompt="Count", response_format=JSON_OBJECT)
    assert result["json"] == {"n": 3}
    assert result["text"] == '```json\n{"n": 3}\n```'
    (request,) = fake_hf.chat_requests
    assert request.body["response_format"] == {"type": "json_object"}


def test_json_schema_goes_to_an_endpoint_in_tgi_form(fake_hf, endpoint_hook):
    fake_hf.reply = '{"n": 3}'
    result = endpoint_hook.chat(user_prompt="Count", response_format=JSON_SCHEMA)
    assert result["json"] == {"n": 3}
    (request,) = fake_hf.chat_requests
    # huggingface_hub rewrites OpenAI's json_schema for TGI on a URL; the name is dropped.
    assert request.body["response_format"] == {"type": "json_object", "value": SCHEMA}


def test_json_schema_goes_to_the_router_unchanged(hub_redirect, make_hook):
    hub_redirect.reply = '{"n": 3}'
    hook = make_hook(password=TOKEN)
    result = hook.chat(user_prompt="Count", response_format=JSON_SCHEMA)
    assert result["json"] == {"n": 3}
    (request,) = hub_redirect.chat_requests
    assert request.headers["host"] == "router.huggingface.co"
    assert request.body["model"] == DEFAULT_MODEL
    assert request.body["response_format"] == JSON_SCHEMA


def test_invalid_json_then_valid_takes_exactly_two_requests(fake_hf, endpoint_hook):
    fake_hf.reply = answer_after_reask("Sure! n is 3", '{"n": 3}')
    result = endpoint_hook.chat(user_prompt="Count", system_prompt="Be exact.", response_format=JSON_SCHEMA)
    assert result["json"] == {"n": 3}
    assert result["text"] == '{"n": 3}'
    first, second = fake_hf.chat_requests
    assert first.body["messages"] == [
        {"role": "system", "content": "Be exact."},
        {"role": "user", "content": "Count"},
    ]
    assert second.body["messages"][:3] == [
        *first.body["messages"],
        {"role": "assistant", "content": "Sure! n is 3"},
    ]
    reask = second.body["messages"][3]
    assert reask["role"] == "user"
    assert "not valid JSON (Expecting value at line 1 column 1)" in reask["content"]
    assert reask["content"].endswith("Answer again with only the JSON, nothing else.")
    assert second.body["response_format"] == first.body["response_format"]


def test_schema_violation_is_named_in_the_reask(fake_hf, endpoint_hook):
    fake_hf.reply = answer_after_reask('{"n": "three"}', '{"n": 3}')
    result = endpoint_hook.chat(user_prompt="Count", response_format=JSON_SCHEMA)
    assert result["json"] == {"n": 3}
    assert len(fake_hf.chat_requests) == 2
    assert (
        "at $.n: 'three' is not of type 'integer'" in fake_hf.chat_requests[1].body["messages"][-1]["content"]
    )


def test_invalid_twice_fails_after_exactly_two_requests(fake_hf, endpoint_hook):
    fake_hf.reply = '{"count": 3}'
    with pytest.raises(StructuredOutputError, match=r"at \$: 'n' is a required property"):
        endpoint_hook.chat(user_prompt="Count", response_format=JSON_SCHEMA)
    assert len(fake_hf.chat_requests) == 2


def test_streamed_reply_is_parsed_too(fake_hf, endpoint_hook):
    fake_hf.reply = answer_after_reask('{"n": ', '{"n": 4}')
    result = endpoint_hook.chat(user_prompt="Count", response_format=JSON_SCHEMA, stream=True)
    assert result["json"] == {"n": 4}
    assert [r.body["stream"] for r in fake_hf.chat_requests] == [True, True]


def test_async_twin_reasks_once_too(fake_hf, endpoint_hook):
    fake_hf.reply = answer_after_reask("no", '{"n": 5}')
    request = endpoint_hook.prepare_chat(user_prompt="Count", response_format=JSON_SCHEMA)
    result = asyncio.run(endpoint_hook.achat(request))
    assert result["json"] == {"n": 5}
    assert len(fake_hf.chat_requests) == 2

    fake_hf.reply = "never JSON"
    with pytest.raises(StructuredOutputError, match="not valid JSON"):
        asyncio.run(endpoint_hook.achat(request))
    assert len(fake_hf.chat_requests) == 4


def test_operator_xcom_carries_the_parsed_json(fake_hf, use_connection, run_dag):
    use_connection("hf_fake", host=fake_hf.url, password=TOKEN)
    fake_hf.reply = lambda body: (
        '{"n": 7}' if body["response_format"].get("value") else '{"words": ["a", "b"]}'
    )
    run = run_dag("hf_structured")
    assert run.state == "success", run.states
    assert run.xcom["count"]["json"] == {"n": 7}
    assert run.xcom["count"]["text"] == '{"n": 7}'
    assert set(run.xcom["count"]) == {"text", "model", "finish_reason", "usage", "json"}
    assert run.xcom["listed"]["json"] == {"words": ["a", "b"]}
    prompts = [r.body["messages"][-1]["content"] for r in fake_hf.chat_requests]
    assert prompts == ["How many?", "List 7 words as JSON."]
    assert run.xcom["use"] == "n=7 words=a,b"
    json.dumps(run.xcom["count"])


# ------------------------------------------------------------------------------------ llama.cpp


@pytest.fixture
def llama_hook(llama_server, make_hook):
    return make_hook(host=llama_server.url, extra={"timeout": 30, "max_retries": 0})


@pytest.mark.llama
def test_llama_json_object_mode_gives_parsed_json(llama_hook):
    # The tiny model closes the object at once (see tests/llama/test_llama_server.py).
    result = llama_hook.chat(user_prompt="Give JSON", max_tokens=64, response_format=JSON_OBJECT)
    assert result["json"] == {}
    assert result["finish_reason"] == "stop"


@pytest.mark.llama
def test_llama_ignores_the_tgi_schema_so_local_validation_catches_it(llama_hook):
    # huggingface_hub sends {"type": "json_object", "value": schema}; llama-cpp-python reads a
    # schema only under "schema", so the grammar is plain JSON, the model answers {} twice, and
    # the schema check fails the call instead of passing on JSON without the required "n".
    with pytest.raises(StructuredOutputError, match=r"at \$: 'n' is a required property"):
        llama_hook.chat(user_prompt="Give JSON", max_tokens=64, response_format=JSON_SCHEMA)


@pytest.mark.llama
def test_llama_own_schema_form_constrains_the_reply(llama_hook):
    # llama-cpp-python's own form, passed through unchanged by huggingface_hub: the grammar follows
    # the schema, so the reply has the required integer.
    fmt = {"type": "json_object", "schema": SCHEMA}
    result = llama_hook.chat(user_prompt="Give JSON", max_tokens=64, seed=1, response_format=fmt)
    assert set(result["json"]) == {"n"}
    assert isinstance(result["json"]["n"], int)


@pytest.mark.llama
def test_llama_reply_cut_by_max_tokens_fails_with_that_advice(llama_hook):
    schema = {"type": "object", "properties": {"w": {"type": "string"}}, "required": ["w"]}
    fmt = {"type": "json_object", "schema": schema}
    with pytest.raises(StructuredOutputError, match="Raise max_tokens") as caught:
        llama_hook.chat(user_prompt="Give JSON", max_tokens=8, seed=1, response_format=fmt)
    assert "not valid JSON (Unterminated string" in str(caught.value)


def test_a_json_array_is_not_the_object_asked_for(fake_hf, endpoint_hook):
    fake_hf.reply = answer_after_reask('[1896, "Athens"]', '{"year": 1896, "city": "Athens"}')
    result = endpoint_hook.chat(
        user_prompt="When and where were the first modern Olympics?", response_format=JSON_OBJECT
    )
    assert result["json"] == {"year": 1896, "city": "Athens"}
    _, again = fake_hf.chat_requests
    assert again.body["messages"][-2] == {"role": "assistant", "content": '[1896, "Athens"]'}
    assert "JSON but not an object" in again.body["messages"][-1]["content"]


def test_a_scalar_is_not_the_object_asked_for_either(fake_hf, endpoint_hook):
    fake_hf.reply = "42"
    with pytest.raises(StructuredOutputError, match="JSON but not an object: 42"):
        endpoint_hook.chat(user_prompt="How many?", response_format=JSON_OBJECT)
    assert len(fake_hf.chat_requests) == 2  # asked once more, as for invalid JSON
