"""HuggingFaceHook against a real inference server: llama.cpp with a tiny generated model."""

from __future__ import annotations

import pytest

from dev.tiny_gguf import WORDS

pytestmark = pytest.mark.llama


@pytest.fixture
def llama_hook(llama_server, make_hook):
    return make_hook(host=llama_server.url, extra={"timeout": 30, "max_retries": 0})


def words_of(text: str) -> list[str]:
    return text.split()


def test_chat(llama_hook):
    result = llama_hook.chat(
        user_prompt="Tell me a story", system_prompt="You are kind.", max_tokens=8, seed=1
    )
    assert result["finish_reason"] == "length"
    assert result["usage"]["completion_tokens"] == 8
    assert result["usage"]["prompt_tokens"] > 5
    assert result["model"] is None  # llama.cpp echoes the "dummy" placeholder: no name to report
    assert 1 <= len(words_of(result["text"])) <= 8
    assert set(words_of(result["text"])) <= set(WORDS)


def test_streamed_chat_matches_plain_chat(llama_hook, capsys):
    plain = llama_hook.chat(user_prompt="Tell me a story", max_tokens=12, seed=7, temperature=0)
    capsys.readouterr()
    streamed = llama_hook.chat(
        user_prompt="Tell me a story", max_tokens=12, seed=7, temperature=0, stream=True
    )
    assert streamed["text"] == plain["text"]
    assert streamed["finish_reason"] == "length"
    assert "| " in capsys.readouterr().out  # the reply reached the log while it streamed


def test_test_connection(llama_hook):
    ok, message = llama_hook.test_connection()
    assert ok, message
    assert "serves tiny" in message
