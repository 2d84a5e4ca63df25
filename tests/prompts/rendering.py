"""The scope the prompt template tests render over, and their two helpers."""

from __future__ import annotations

import datetime

import pytest

from airflow_provider_huggingface.exceptions import PromptTemplateError
from airflow_provider_huggingface.prompts.renderer import render_prompt

SCOPE = {
    "httpRequest": {"data": "the quarterly report"},
    "previousNode": {"content": "Bonjour"},
    "summarize": {
        "text": "A summary",
        "model": "mistralai/Mistral-7B-Instruct-v0.3",
        "finish_reason": "stop",
        "usage": None,
    },
    "fetch": {
        "items": [{"name": "one", "size": 1}, {"name": "two", "size": 2}],
        "ok": True,
        "empty": [],
        "tags": {"lang": "fr", "tone": "dry"},
    },
    "group": {"task": {"text": "from the group"}},
    "markup": "a & b <c> \"d\" 'e' `f`",
    "curly": "{{summarize.text}} stays {{#if x}}as is{{/if}}",
    "raw": b"caf\xc3\xa9 \xff",
    "when": datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC),
    "zero": 0,
    "pi": 3.5,
    "no": False,
    "nothing": None,
    "params": {"lang": "French", "key with space": "spaced"},
    "ds": "2024-05-06",
}


def render(template: str, scope: dict | None = None, **kwargs) -> str:
    return render_prompt(template, SCOPE if scope is None else scope, **kwargs)


def fails(template: str, scope: dict | None = None, **kwargs) -> str:
    with pytest.raises(PromptTemplateError) as raised:
        render(template, scope, **kwargs)
    return str(raised.value)
