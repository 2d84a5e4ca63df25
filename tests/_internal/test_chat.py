"""The chat result type: what the hook returns (and the operators push to XCom) is a ChatResult."""

from __future__ import annotations

import json

import pytest

from airflow_provider_huggingface._internal.chat import ChatResult, TokenUsage, add_usage

REQUIRED_KEYS = set(ChatResult.__required_keys__)
OPTIONAL_KEYS = set(ChatResult.__optional_keys__)


def test_chat_result_keys_are_the_documented_xcom_keys():
    documented = {"text", "model", "finish_reason", "usage"}
    assert documented == REQUIRED_KEYS
    assert {"json"} == OPTIONAL_KEYS
    assert TokenUsage.__required_keys__ == {"prompt_tokens", "completion_tokens", "total_tokens"}


@pytest.mark.parametrize("stream", [False, True])
def test_hook_results_have_exactly_the_chat_result_keys(fake_hf, make_hook, stream):
    hook = make_hook(host=fake_hf.url, password="hf_x", extra={"max_retries": 0})
    plain = hook.chat(user_prompt="hi", stream=stream)
    fake_hf.reply = '{"a": 1}'
    structured = hook.chat(user_prompt="hi", stream=stream, response_format={"type": "json_object"})

    assert set(plain) == REQUIRED_KEYS
    assert set(structured) == REQUIRED_KEYS | OPTIONAL_KEYS
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
