"""The llama.cpp tier's ``/v1/embeddings``: the tiny model with mean pooling, over plain HTTP, nothing faked.

What the embedding hook and operator will be checked against: one vector per text, in order, of the
model's width, the same for the same text whatever else is in the call.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest

from dev.tiny_gguf import N_EMBD

if TYPE_CHECKING:
    from dev.llama_server import LlamaServer

pytestmark = pytest.mark.llama


def embed(server: LlamaServer, texts: str | list[str]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{server.url}/v1/embeddings",
        data=json.dumps({"model": "tiny-embed", "input": texts}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def vectors(answer: dict[str, Any]) -> list[list[float]]:
    assert [item["index"] for item in answer["data"]] == list(range(len(answer["data"])))
    return [item["embedding"] for item in answer["data"]]


def test_one_pooled_vector_per_text_in_order(llama_embedding_server: LlamaServer) -> None:
    texts = ["the cat sat on the mat", "a dog ran home", "the cat sat on the mat", "river"]
    answer = embed(llama_embedding_server, texts)

    got = vectors(answer)
    assert [len(v) for v in got] == [N_EMBD] * 4
    assert all(isinstance(x, float) and math.isfinite(x) for v in got for x in v)
    assert got[0] == got[2]
    assert got[0] != got[1]
    assert got[1] != got[3]
    assert answer["object"] == "list"
    assert answer["usage"]["prompt_tokens"] == answer["usage"]["total_tokens"] > 0
    # llama-cpp-python does not normalise: callers that want unit vectors normalise them.
    assert math.sqrt(sum(x * x for x in got[0])) > 2


def test_the_same_text_gives_the_same_vector_alone_or_in_a_batch(llama_embedding_server: LlamaServer) -> None:
    alone = vectors(embed(llama_embedding_server, "a dog ran home"))
    batched = vectors(embed(llama_embedding_server, ["the cat sat on the mat", "a dog ran home"]))
    again = vectors(embed(llama_embedding_server, ["a dog ran home"]))

    assert alone[0] == batched[1] == again[0]


def test_an_empty_text_is_a_server_error(llama_embedding_server: LlamaServer) -> None:
    # What a hook meets when it sends an empty string: a 500 from llama.cpp, not a vector (the message
    # varies: "llama_decode returned -1" alone, "NULL pointer access" after another text).
    for texts in ([""], ["fine", ""]):
        with pytest.raises(urllib.error.HTTPError) as exc:
            embed(llama_embedding_server, texts)
        assert exc.value.code == 500
        assert json.load(exc.value)["error"]["type"] == "internal_server_error"


def test_the_embedding_server_still_chats(llama_embedding_server: LlamaServer) -> None:
    request = urllib.request.Request(
        f"{llama_embedding_server.url}/v1/chat/completions",
        data=json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    assert len(answer["choices"][0]["message"]["content"].split()) == 4
