"""The real ``huggingface_hub.InferenceClient`` against a real llama.cpp server (tiny random model).

These pin what the provider relies on from an OpenAI-compatible server, with nothing faked: words
come back, streams arrive in pieces and end with a reason, ``stop`` and JSON mode are honoured.
The model's output is random words, so the tests check its shape, never its meaning.
"""

from __future__ import annotations

import json
import urllib.request
from typing import TYPE_CHECKING

import pytest
from huggingface_hub import InferenceClient

from dev.tiny_gguf import WORDS

if TYPE_CHECKING:
    from dev.llama_server import LlamaServer

pytestmark = pytest.mark.llama

MESSAGES = [
    {"role": "system", "content": "You are a quiet assistant."},
    {"role": "user", "content": "tell me a story about the sea"},
]
VOCABULARY = frozenset(WORDS)


@pytest.fixture
def client(llama_server: LlamaServer) -> InferenceClient:
    return InferenceClient(base_url=llama_server.url, timeout=30)


def _words(text: str) -> list[str]:
    words = text.split()
    assert words, f"no words in {text!r}"
    assert set(words) <= VOCABULARY, f"not from the tiny vocabulary: {set(words) - VOCABULARY}"
    return words


def test_chat_completion_returns_vocabulary_words(client: InferenceClient) -> None:
    response = client.chat_completion(MESSAGES, max_tokens=8)

    choice = response.choices[0]
    assert choice.message.role == "assistant"
    # Every token the tiny model can sample is one whole word, so 8 tokens are 8 words.
    assert len(_words(choice.message.content)) == 8
    assert choice.finish_reason == "length"
    assert response.usage.completion_tokens == 8
    assert response.usage.prompt_tokens > 0


def test_streamed_chat_arrives_in_chunks(client: InferenceClient) -> None:
    chunks = list(client.chat_completion(MESSAGES, max_tokens=8, stream=True))

    pieces = [chunk.choices[0].delta.content for chunk in chunks if chunk.choices[0].delta.content]
    assert len(pieces) == 8, pieces
    assert len(_words("".join(pieces))) == 8
    assert chunks[-1].choices[0].finish_reason == "length"


def test_stop_string_cuts_the_answer(client: InferenceClient) -> None:
    # The same per-request seed gives the same words, so the answer with a stop string must be the
    # free answer cut just before the first place the stop string appears.
    free = client.chat_completion(MESSAGES, max_tokens=12, seed=7).choices[0].message.content
    stop = " " + free.split()[4]
    stopped = client.chat_completion(MESSAGES, max_tokens=12, seed=7, stop=[stop]).choices[0]

    assert stopped.message.content == free[: free.index(stop)]
    assert stopped.finish_reason == "stop"


def test_json_object_mode_returns_parseable_json(client: InferenceClient) -> None:
    # The JSON grammar masks every word right after "{", and the tiny model prefers "}" over '"'
    # among what is left (dev.tiny_gguf.CLOSE_BRACE_BIAS), so it closes the object at once.
    response = client.chat_completion(MESSAGES, max_tokens=64, response_format={"type": "json_object"})

    choice = response.choices[0]
    assert json.loads(choice.message.content) == {}
    assert choice.finish_reason == "stop"


def test_stream_survives_a_concurrent_request(client: InferenceClient) -> None:
    # Without --interrupt_requests false the second request silently ends the stream after a few
    # chunks, with no finish_reason.
    stream = client.chat_completion(MESSAGES, max_tokens=200, stream=True)
    first = [next(stream) for _ in range(3)]
    other = client.chat_completion(MESSAGES, max_tokens=4)
    chunks = first + list(stream)

    assert len(_words(other.choices[0].message.content)) == 4
    assert chunks[-1].choices[0].finish_reason == "length"
    assert sum(1 for chunk in chunks if chunk.choices[0].delta.content) == 200


def test_models_endpoint_lists_the_model(llama_server: LlamaServer) -> None:
    with urllib.request.urlopen(f"{llama_server.url}/v1/models", timeout=10) as response:
        body = json.load(response)

    assert body["object"] == "list"
    # The id is the model file's stem (dev.llama_server passes it as --model_alias).
    assert [model["id"] for model in body["data"]] == ["tiny"]
