"""Conversations: the shape of ``messages``, the order of the turns, rendering each content."""

from __future__ import annotations

import pytest

from airflow_provider_huggingface.exceptions import ConfigurationError, PromptTemplateError
from airflow_provider_huggingface.prompts.messages import check_messages, conversation, render_messages


def test_the_order_is_system_then_messages_then_user():
    examples = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    assert conversation(system_prompt="s", messages=examples, user_prompt="u") == [
        {"role": "system", "content": "s"},
        *examples,
        {"role": "user", "content": "u"},
    ]
    assert conversation(system_prompt=" ", messages=examples[:1], user_prompt=None) == examples[:1]


def test_a_conversation_must_end_with_a_user_turn():
    with pytest.raises(ConfigurationError, match="ends with assistant, not a user turn"):
        conversation(system_prompt=None, messages=[{"role": "assistant", "content": "a"}], user_prompt=None)
    with pytest.raises(ConfigurationError, match="ends with system"):
        conversation(system_prompt="s", messages=None, user_prompt=None)


@pytest.mark.parametrize(
    ("messages", "words"),
    [
        ([], "messages is empty"),
        ({"role": "user", "content": "x"}, "not dict"),
        ("hi", "not str"),
        (["hi"], r"messages\[0\] is a str"),
        ([{"role": "tool", "content": "x"}], "the role 'tool'"),
        ([{"role": "user"}], r"messages\[0\].content must be a string"),
        ([{"role": "user", "content": "x", "name": "bob"}], "unknown key"),
    ],
)
def test_bad_messages_name_the_fault(messages, words):
    with pytest.raises(ConfigurationError, match=words):
        check_messages(messages)


def test_each_content_is_rendered_and_errors_name_its_index():
    messages = check_messages([{"role": "user", "content": "{{a.b}}"}, {"role": "user", "content": "{{c}}"}])
    assert render_messages(messages[:1], {"a": {"b": "{{x}}"}}) == [{"role": "user", "content": "{{x}}"}]
    with pytest.raises(PromptTemplateError, match=r"messages\[1\].content: \{\{c\}\} resolves to nothing"):
        render_messages(messages, {"a": {"b": 1}})
