"""Conversations: the ``messages`` argument of the chat operators, checked, rendered and put in order.

A conversation is ``system_prompt`` (if any), then ``messages`` in the order given, then
``user_prompt`` (if any); it must end with a user turn. Each ``content`` written in the DAG file
is a Handlebars template rendered by :func:`~airflow_provider_huggingface.prompts.renderer.render_prompt`
over the same scope as the prompts. A ``messages`` list that arrives at run time (an upstream
task's output, a mapped value) is data: it is sent as it is, never rendered; so is a single
``content`` that is an upstream task's output (``{"role": "user", "content": question()}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_huggingface.exceptions import ConfigurationError

ROLES = ("system", "user", "assistant")
_EXAMPLE = '[{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]'

__all__ = ["ROLES", "check_messages", "conversation", "render_messages", "resolve_contents"]


def check_messages(messages: Any, *, field: str = "messages") -> list[dict[str, str]]:
    """``messages`` as a list of ``{"role", "content"}`` dicts, or a :class:`ConfigurationError` naming
    the first fault and its fix. Nothing is rendered or sent."""
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, (list, tuple)):
        raise ConfigurationError(
            f"{field} must be a list of messages such as {_EXAMPLE}, not {type(messages).__name__}."
        )
    if not messages:
        raise ConfigurationError(
            f"{field} is empty: give at least one message such as {_EXAMPLE}, or leave {field} out."
        )
    checked = []
    for index, message in enumerate(messages):
        where = f"{field}[{index}]"
        if not isinstance(message, Mapping):
            raise ConfigurationError(
                f"{where} is a {type(message).__name__}: each message is a dict "
                '{"role": ..., "content": ...}.'
            )
        role, content = message.get("role"), message.get("content")
        unknown = sorted(set(map(str, message)) - {"role", "content"})
        if unknown:
            raise ConfigurationError(
                f"{where} has unknown key(s) {', '.join(unknown)}: a message holds only role and content."
            )
        if role not in ROLES:
            raise ConfigurationError(
                f"{where} has the role {role!r}: use one of {', '.join(ROLES)}. Tool calls are not supported."
            )
        if not isinstance(content, str):
            raise ConfigurationError(
                f"{where}.content must be a string (a Handlebars template), not {type(content).__name__}."
            )
        checked.append({"role": role, "content": content})
    return checked


def resolve_contents(messages: Any, context: Any) -> tuple[Any, frozenset[int]]:
    """``messages`` with each content that Airflow resolves at run time (an XComArg) resolved, and
    the indices of those contents: data, never rendered. Anything else is left for the checks."""
    if not isinstance(messages, (list, tuple)):
        return messages, frozenset()
    resolved, data = [], set()
    for index, message in enumerate(messages):
        content = message.get("content") if isinstance(message, Mapping) else None
        resolve = None if isinstance(content, str) else getattr(content, "resolve", None)
        if callable(resolve):
            message = {**message, "content": resolve(context)}
            data.add(index)
        resolved.append(message)
    return resolved, frozenset(data)


def render_messages(
    messages: list[dict[str, str]],
    scope: Mapping[str, Any],
    *,
    field: str = "messages",
    data: frozenset[int] = frozenset(),
) -> list[dict[str, str]]:
    """Each message's content rendered over ``scope`` (but those at ``data``, sent as they are); an
    error names ``messages[i].content``."""
    from airflow_provider_huggingface.prompts.renderer import render_prompt

    return [
        {
            "role": m["role"],
            "content": m["content"]
            if i in data
            else render_prompt(m["content"], scope, field=f"{field}[{i}].content"),
        }
        for i, m in enumerate(messages)
    ]


def conversation(
    *,
    system_prompt: str | None,
    messages: list[dict[str, str]] | None,
    user_prompt: str | None,
) -> list[dict[str, str]]:
    """The messages to send, in order: system prompt, ``messages``, user prompt; ends with a user turn."""
    turns = []
    if system_prompt and system_prompt.strip():
        turns.append({"role": "system", "content": system_prompt})
    turns.extend(messages or ())
    if user_prompt is not None:
        turns.append({"role": "user", "content": user_prompt})
    if not turns or turns[-1]["role"] != "user":
        last = turns[-1]["role"] if turns else "nothing"
        raise ConfigurationError(
            f"The conversation ends with {last}, not a user turn, so the model has nothing to answer: "
            "end messages with a user message, or give user_prompt."
        )
    return turns
