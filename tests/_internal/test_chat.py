"""The chat result type: what the hook returns (and the operators push to XCom) is a ChatResult."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_huggingface import exceptions as errors
from airflow_provider_huggingface._internal.chat import ChatResult, TokenUsage, add_usage
from tests.fakes.hf_api import Fault

REQUIRED_KEYS = set(ChatResult.__required_keys__)
OPTIONAL_KEYS = set(ChatResult.__optional_keys__)


def test_chat_result_keys_are_the_documented_xcom_keys():
    documented = {"text", "model", "finish_reason", "usage"}
    assert documented == REQUIRED_KEYS
    assert {"json", "provider", "tool_calls"} == OPTIONAL_KEYS
    assert TokenUsage.__required_keys__ == {"prompt_tokens", "completion_tokens", "total_tokens"}


@pytest.mark.parametrize("stream", [False, True])
def test_hook_results_have_exactly_the_chat_result_keys(fake_hf, make_hook, stream):
    hook = make_hook(host=fake_hf.url, password="hf_x", extra={"max_retries": 0})
    plain = hook.chat(user_prompt="hi", stream=stream)
    fake_hf.reply = '{"a": 1}'
    structured = hook.chat(user_prompt="hi", stream=stream, response_format={"type": "json_object"})

    assert set(plain) == REQUIRED_KEYS
    assert set(structured) == REQUIRED_KEYS | {"json"}  # tool_calls only when tools were offered
    assert structured["json"] == {"a": 1}
    assert set(plain["usage"] or {}) == TokenUsage.__required_keys__
    json.dumps(structured)  # plain JSON, as XCom stores it


def test_add_usage_sums_each_count_and_keeps_a_lone_side():
    one: TokenUsage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    two: TokenUsage = {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
    assert add_usage(one, two) == {"prompt_tokens": 11, "completion_tokens": 22, "total_tokens": 33}
    assert add_usage(None, two) is two
    assert add_usage(one, None) is one
    assert add_usage(None, None) is None


# ------------------------------------------------------------------------------ unreadable replies
# Each case is a 200 the server sent (real HTTP through the fake); the error must say where the call
# went, quote what the server sent, and give the reply's id when it has one, like every other error.


def send(hook, path):
    if path == "sync":
        return hook.chat(user_prompt="hi")
    return asyncio.run(hook.achat(hook.prepare_chat(user_prompt="hi")))


ODD_SHAPE = {"id": "chatcmpl-odd-shape", "object": "chat.completion", "choices": "oops"}


@pytest.mark.parametrize(
    ("fault", "sent", "reply_id"),
    [
        (Fault.status(200, body=ODD_SHAPE), '"choices": "oops"', "chatcmpl-odd-shape"),
        (Fault.empty_choices(), '"choices": []', "chatcmpl-"),
        (Fault.malformed_json(), '{"id": "chatcmpl-broken", "object": "chat.completion", "choi', None),
        (Fault.html(), "<title>502 Bad Gateway</title>", None),
    ],
)
@pytest.mark.parametrize("path", ["sync", "async"])
def test_a_malformed_reply_says_where_what_and_which(fake_hf, make_hook, fault, sent, reply_id, path):
    hook = make_hook(host=fake_hf.url, password="hf_x", extra={"max_retries": 1})
    fake_hf.enqueue(fault, fault)
    with pytest.raises(errors.MalformedResponseError) as info:
        send(hook, path)
    error = info.value
    assert len(fake_hf.chat_requests) == 2  # transient: retried
    assert str(error).startswith(f"{fake_hf.url}: ")
    assert "Server sent: " in str(error)
    assert sent in str(error)
    assert sent in (error.server_message or "")
    if reply_id is None:
        assert error.request_id is None
    else:
        assert (error.request_id or "").startswith(reply_id)
        assert f"Request id: {error.request_id}." in str(error)


def test_a_stream_without_a_finish_quotes_its_last_chunk(fake_hf, make_hook):
    hook = make_hook(host=fake_hf.url, password="hf_x", extra={"max_retries": 0})
    fake_hf.enqueue(Fault.empty_choices())
    with pytest.raises(errors.MalformedResponseError, match="The stream ended before") as info:
        hook.chat(user_prompt="hi", stream=True)
    assert (info.value.request_id or "").startswith("chatcmpl-")
    assert '"object": "chat.completion.chunk"' in (info.value.server_message or "")


def test_a_reply_quoted_in_an_error_is_shortened_and_keeps_no_token(fake_hf, make_hook):
    token = "hf_" + "q" * 34
    hook = make_hook(host=fake_hf.url, password=token, extra={"max_retries": 0})
    fake_hf.enqueue(Fault.status(200, body={**ODD_SHAPE, "echo": f"{token} " + "x" * 1000}))
    with pytest.raises(errors.MalformedResponseError) as info:
        hook.chat(user_prompt="hi")
    assert token not in str(info.value)
    assert len(info.value.server_message or "") <= 303


@pytest.mark.parametrize("bug", [KeyError("text"), IndexError("list index"), TypeError("unhashable")])
def test_a_bug_of_ours_after_the_reply_is_not_a_malformed_reply(fake_hf, make_hook, monkeypatch, bug):
    # A bug in our own code where no reply is read: it must fail at once and name itself, not be
    # retried as if the server had sent garbage.
    from airflow_provider_huggingface._internal import chat as chat_module

    real = chat_module.completion_result

    def buggy(output, model):
        real(output, model)
        raise bug

    monkeypatch.setattr(chat_module, "completion_result", buggy)
    hook = make_hook(host=fake_hf.url, password="hf_x", extra={"max_retries": 3})
    with pytest.raises(errors.HuggingFaceError) as info:
        hook.chat(user_prompt="hi")
    assert type(info.value) is errors.HuggingFaceError
    assert not info.value.retryable
    assert f"{type(bug).__name__}: {bug}" in str(info.value)
    assert len(fake_hf.chat_requests) == 1
