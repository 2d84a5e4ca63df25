from __future__ import annotations

import json

import pytest
from airflow.sdk import Connection

from airflow_provider_huggingface._internal.connection import (
    ConnectionSettings,
    check_generation_settings,
    check_model_id,
    unreadable_env_connection,
)
from airflow_provider_huggingface.exceptions import ConfigurationError
from airflow_provider_huggingface.provider_info import DEFAULT_MODEL

TOKEN = "hf_abcdefghijklmnop"


def settings(**kw):
    extra = json.dumps(kw.pop("extra", {}))
    return ConnectionSettings.from_connection(
        Connection(conn_id="hf", conn_type="huggingface", extra=extra, **kw)
    )


def test_router_defaults():
    s = settings(password=TOKEN)
    assert (s.base_url, s.provider, s.timeout, s.max_retries, s.bill_to) == (None, "auto", 120.0, 3, None)
    assert s.resolve_model(None) == DEFAULT_MODEL
    assert s.resolve_model("  ") == DEFAULT_MODEL
    assert s.resolve_model("meta-llama/Llama-3.1-8B-Instruct") == "meta-llama/Llama-3.1-8B-Instruct"


def test_extras_are_read_and_strings_accepted():
    s = settings(
        password=TOKEN,
        extra={
            "timeout": "7.5",
            "max_retries": "2",
            "provider": "together",
            "bill_to": "acme",
            "default_model": "a/b",
        },
    )
    assert (s.timeout, s.max_retries, s.provider, s.bill_to) == (7.5, 2, "together", "acme")
    assert s.resolve_model(None) == "a/b"


def test_token_is_not_in_repr():
    s = settings(password=TOKEN)
    assert TOKEN not in repr(s)
    assert TOKEN not in str(s)


def test_endpoint_without_token_and_model_lets_the_server_choose():
    s = settings(host="http://127.0.0.1:8080/")
    assert s.base_url == "http://127.0.0.1:8080"
    assert s.token is None
    assert s.resolve_model(None) is None
    assert s.resolve_model("anything goes here") == "anything goes here"


def test_endpoint_port_field_is_added_when_host_has_none():
    assert settings(host="http://localhost", port=9000).base_url == "http://localhost:9000"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "has no Hugging Face API token"),
        ({"password": "   "}, "has no Hugging Face API token"),
        ({"password": "sk-abc"}, "does not start with hf_"),
        ({"password": TOKEN, "host": "xyz.endpoints.huggingface.cloud"}, "has no http:// or https:// scheme"),
        ({"password": TOKEN, "extra": {"timeout": "soon"}}, "extra 'timeout' is 'soon', not a number"),
        ({"password": TOKEN, "extra": {"timeout": 0}}, "must be a number greater than 0"),
        ({"password": TOKEN, "extra": {"max_retries": -1}}, "must be a whole number from 0 to 20"),
        ({"password": TOKEN, "extra": {"max_retries": 1.5}}, "not a whole number"),
        ({"password": TOKEN, "extra": {"max_retries": True}}, "not a whole number"),
        ({"password": TOKEN, "extra": {"provider": "acme-cloud"}}, "unknown inference provider 'acme-cloud'"),
    ],
)
def test_bad_connections_name_the_problem(kwargs, message):
    with pytest.raises(ConfigurationError, match=message) as info:
        settings(**kwargs)
    assert "Connection 'hf'" in str(info.value)


def test_missing_token_message_says_how_to_get_one():
    with pytest.raises(ConfigurationError) as info:
        settings()
    assert "https://huggingface.co/settings/tokens" in str(info.value)
    assert "Read" in str(info.value)


@pytest.mark.parametrize("model", ["mistral", "a/b/c", "/name", "owner/", "owner name/x", ""])
def test_bad_model_ids(model):
    with pytest.raises(ConfigurationError, match="owner/name"):
        check_model_id(model)


@pytest.mark.parametrize(
    "model", [DEFAULT_MODEL, "google/gemma-2-27b-it", "Qwen/Qwen2.5-72B-Instruct", "microsoft/Phi-4"]
)
def test_good_model_ids(model):
    check_model_id(model)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_tokens": 0}, "max_tokens=0"),
        ({"max_tokens": -5}, "at least 1"),
        ({"max_tokens": "10"}, "whole number"),
        ({"temperature": 2.5}, "from 0 to 2"),
        ({"temperature": -0.1}, "from 0 to 2"),
        ({"top_p": 0}, "greater than 0"),
        ({"top_p": 1.5}, "at most 1"),
        ({"stop": [""]}, "non-empty strings"),
        ({"stop": 5}, "string or a list"),
        ({"seed": 1.5}, "whole number"),
        ({"response_format": "json"}, "must be a dict"),
        ({"response_format": {"type": "xml"}}, "'type' is one of"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "needs a JSON schema"),
    ],
)
def test_bad_generation_settings(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        check_generation_settings(**kwargs)


def test_good_generation_settings():
    check_generation_settings(
        max_tokens=10,
        temperature=0,
        top_p=1,
        stop=["\n"],
        seed=3,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}},
    )


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ('{"conn_type": "huggingface", "extra": "{timeout: 5}"}', True),
        ('{"conn_type": "huggingface", "extra": "{\\"timeout\\": 5}"}', False),
        ('{"conn_type": "huggingface", "extra": {"timeout": 5}}', False),
        ("huggingface://:hf_x@host?timeout=5", False),
        (None, False),
    ],
)
def test_an_env_connection_airflow_drops_for_its_extra_is_named(monkeypatch, value, named):
    if value is None:
        monkeypatch.delenv("AIRFLOW_CONN_HF_ENV", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW_CONN_HF_ENV", value)
    problem = unreadable_env_connection("hf_env")
    if named:
        assert problem.startswith("AIRFLOW_CONN_HF_ENV is set, but its extra is not valid JSON (Expecting")
        assert 'Correct the extra, e.g. {"timeout": 60, "default_model": "owner/name"}.' in problem
    else:
        assert problem is None
