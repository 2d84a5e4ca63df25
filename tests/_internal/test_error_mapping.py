from __future__ import annotations

import json

import pytest
from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError

from airflow_provider_huggingface import exceptions as errors
from airflow_provider_huggingface._internal import hub_compat
from airflow_provider_huggingface._internal.airflow_compat import AirflowFailException
from airflow_provider_huggingface._internal.error_mapping import map_error, redact

httpx = hub_compat.http_module()
TOKEN = "hf_secretsecretsecret"


def http_error(status, body=None, headers=None):
    request = httpx.Request("POST", "https://router.huggingface.co/v1/chat/completions")
    content = json.dumps(body if body is not None else {"error": f"status {status}"}).encode()
    response = httpx.Response(
        status,
        content=content,
        headers={"content-type": "application/json", **(headers or {})},
        request=request,
    )
    return HfHubHTTPError(f"{status} error", response=response)


@pytest.mark.parametrize(
    ("status", "cls", "words"),
    [
        (400, errors.InvalidRequestError, "generation settings"),
        (401, errors.InvalidTokenError, "Ensure it starts with hf_"),
        (402, errors.PaymentRequiredError, "Pro"),
        (403, errors.ModelAccessError, "Accept the model's license"),
        (404, errors.ModelNotFoundError, "Try the default model"),
        (408, errors.ResponseTimeoutError, "another attempt usually gets through"),
        (422, errors.InvalidRequestError, "generation settings"),
        (429, errors.RateLimitError, "Airflow pool"),
        (500, errors.ServiceUnavailableError, "Try again later"),
        (503, errors.ServiceUnavailableError, "loading"),
        (409, errors.InvalidRequestError, "rejected"),
    ],
)
def test_status_codes_map_to_guidance(status, cls, words):
    error = map_error(http_error(status), model="a/b", where="Hugging Face router")
    assert type(error) is cls
    assert words.lower() in str(error).lower()
    assert error.status_code == status
    assert f"status {status}" in str(error)  # the server's own words
    assert isinstance(error, AirflowFailException) == (status in (400, 401, 402, 403, 404, 409, 422))
    assert error.retryable == (status in (408, 429, 500, 503))


def test_model_is_named_in_guidance():
    error = map_error(http_error(403), model="meta-llama/Llama-3.1-8B-Instruct", where="Hugging Face router")
    assert "https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct" in str(error)
    assert "mistralai/Mistral-7B-Instruct-v0.3" in str(error)


def test_retry_after_header_and_estimated_time():
    assert map_error(http_error(429, headers={"Retry-After": "7"}), model=None, where="x").retry_after == 7.0
    loading = http_error(503, body={"error": "Model is currently loading", "estimated_time": 12.5})
    assert map_error(loading, model=None, where="x").retry_after == 12.5
    assert map_error(http_error(500), model=None, where="x").retry_after is None


def test_request_id_is_quoted():
    error = map_error(http_error(500, headers={"x-request-id": "req-123"}), model=None, where="x")
    assert "req-123" in str(error)


def test_timeouts_and_connection_failures():
    assert isinstance(
        map_error(InferenceTimeoutError("slow"), model=None, where="x"), errors.ResponseTimeoutError
    )
    refused = httpx.ConnectError("refused")
    error = map_error(refused, model=None, where="http://127.0.0.1:1")
    assert isinstance(error, errors.EndpointUnreachableError)
    assert error.retryable
    assert "http://127.0.0.1:1" in str(error)
    assert isinstance(map_error(httpx.ReadTimeout("t"), model=None, where="x"), errors.ResponseTimeoutError)
    bad_json = json.JSONDecodeError("Expecting value", "<html>", 0)
    malformed = map_error(bad_json, model=None, where="http://127.0.0.1:1")
    assert isinstance(malformed, errors.MalformedResponseError)
    assert malformed.retryable
    assert str(malformed).startswith("http://127.0.0.1:1: ")
    assert "Server sent: <html>." in str(malformed)


@pytest.mark.parametrize("bug", [KeyError("k"), IndexError("i"), TypeError("t"), AttributeError("a")])
def test_our_own_bugs_are_not_malformed_responses_nor_retried(bug):
    error = map_error(bug, model=None, where="x")
    assert type(error) is errors.HuggingFaceError
    assert not error.retryable
    assert f"Client error: {type(bug).__name__}: {bug}" in str(error)


def test_token_never_appears_in_a_mapped_message():
    leaky = http_error(401, body={"error": f"Token {TOKEN} is invalid"})
    error = map_error(leaky, model=None, where="x", secrets=[TOKEN])
    assert TOKEN not in str(error)
    assert TOKEN not in (error.server_message or "")
    other = "hf_" + "z" * 34
    assert other not in str(map_error(RuntimeError(f"boom {other}"), model=None, where="x"))


def test_redact():
    assert redact(f"a {TOKEN} b", [TOKEN]) == "a *** b"
    assert redact("key hf_" + "a1" * 17, []) == "key hf_***"
    assert redact("connection hf_nowhere", []) == "connection hf_nowhere"
    assert redact("no secrets", [None, ""]) == "no secrets"


def test_already_mapped_errors_pass_through():
    error = errors.ConfigurationError("bad")
    assert map_error(error, model=None, where="x") is error


def test_a_client_side_error_is_not_quoted_as_the_server_s_words():
    error = map_error(RuntimeError("boom"), model=None, where="x")
    assert "Client error: RuntimeError: boom." in str(error)
    assert "Server said" not in str(error)


@pytest.mark.parametrize(
    ("status", "model", "words"),
    [
        (400, "a/b", "Check that 'a/b' is an embedding model (feature extraction)"),
        (403, "a/b", "try the default model sentence-transformers/all-MiniLM-L6-v2"),
        (404, "a/b", "try the default model sentence-transformers/all-MiniLM-L6-v2 first"),
        (404, None, "no embeddings API there"),
    ],
)
def test_an_embedding_call_gets_the_advice_that_fits_it(status, model, words):
    error = map_error(http_error(status), model=model, where="w", task="feature-extraction")
    assert words in str(error)
    assert "chat" not in str(error)
    assert "Mistral" not in str(error)


def test_an_unreadable_embedding_reply_says_what_an_embedding_server_is():
    from airflow_provider_huggingface._internal.chat import UnreadableReply

    error = map_error(UnreadableReply(None, reply={"x": 1}), model=None, where="w", task="feature-extraction")
    assert type(error) is errors.MalformedResponseError
    assert "not an embedding reply" in str(error)
    assert "llama.cpp with --embedding" in str(error)
