"""What an embedding call sends and reads back (_internal/embedding.py), without a server: the request
checked and fingerprinted, and each way a reply can fail to be one vector per text."""

from __future__ import annotations

import json
import math

import numpy
import pytest

from airflow_provider_huggingface._internal.chat import UnreadableReply
from airflow_provider_huggingface._internal.connection import ConnectionSettings
from airflow_provider_huggingface._internal.embedding import (
    EmbedRequest,
    build_embed_request,
    endpoint_result,
    router_result,
    unreadable_array,
)
from airflow_provider_huggingface.exceptions import ConfigurationError
from airflow_provider_huggingface.provider_info import DEFAULT_EMBEDDING_MODEL

ROUTER = ConnectionSettings(conn_id="c", token="hf_x", base_url=None, default_model="org/chat-model")
ENDPOINT = ConnectionSettings(conn_id="c", token=None, base_url="http://tei:8080", default_model="org/chat")


def request(*texts: str, **kwargs) -> EmbedRequest:
    return EmbedRequest(where="here", model="m", texts=texts, **kwargs)


def answer(*vectors, order=None) -> dict:
    indices = order or range(len(vectors))
    return {"data": [{"index": i, "embedding": vectors[i]} for i in indices], "model": "served"}


def test_the_model_defaults_to_the_embedding_default_on_the_router_and_the_servers_own_elsewhere():
    # The connection's default_model is a chat model's: an embedding call does not take it.
    assert build_embed_request(ROUTER, ["a"]).model == DEFAULT_EMBEDDING_MODEL
    assert build_embed_request(ENDPOINT, ["a"]).model is None
    routed = build_embed_request(ROUTER, ["a", "b"], model=" BAAI/bge-small-en-v1.5 ", normalize=True)
    assert (routed.model, routed.texts, routed.normalize, routed.endpoint) == (
        "BAAI/bge-small-en-v1.5",
        ("a", "b"),
        True,
        None,
    )
    assert build_embed_request(ENDPOINT, ["a"], model="local").endpoint == "http://tei:8080"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"model": "not an id"}, "not a Hugging Face model id"),
        ({"model": 3}, "must be a model id string"),
        ({"normalize": "yes"}, "normalize='yes' is not valid"),
        ({"truncate": None}, "truncate=None is not valid"),
    ],
)
def test_bad_settings_are_refused(kwargs, words):
    with pytest.raises(ConfigurationError, match=words):
        build_embed_request(ROUTER, ["a"], **kwargs)


def test_the_digest_covers_what_is_asked():
    one = request("a")
    assert one.digest == request("a").digest
    assert one.digest == request("b").digest_of(("a",))
    assert len({one.digest, request("b").digest, request("a", normalize=True).digest}) == 3
    assert one.digest != EmbedRequest(where="here", model="other", texts=("a",)).digest
    assert request("a", "b").digest != request("ab").digest  # texts are delimited, not joined


def test_parts_keep_the_order():
    parts = request("a", "b", "c", "d", "e").parts(2)
    assert [part.texts for part in parts] == [("a", "b"), ("c", "d"), ("e",)]
    assert {part.model for part in parts} == {"m"}


def test_an_endpoint_reply_is_read_by_index_with_usage_and_served_model():
    body = answer([1.0, 0.0], [0.0, 2.0], order=[1, 0])
    body["usage"] = {"prompt_tokens": 3, "total_tokens": 3}
    result = endpoint_result(body, EmbedRequest(where="w", model=None, texts=("x", "y")))
    assert result == {
        "embeddings": [[1.0, 0.0], [0.0, 2.0]],
        "dimensions": 2,
        "model": "served",
        "usage": {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3},
    }
    assert endpoint_result(body, request("x", "y", normalize=True))["embeddings"] == [[1.0, 0.0], [0.0, 1.0]]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"error": "nope"}, None),
        ({"data": [{"embedding": [1.0]}]}, None),
        (answer([1.0], [1.0], [1.0]), "answered 3 vector(s) for 2 text(s)"),
        (
            {"data": [{"index": 0, "embedding": [1.0]}, {"index": 2, "embedding": [1.0]}]},
            "numbered its vectors [0, 2]",
        ),
        (answer("AACAPw==", "AACAPw=="), "not lists of numbers (base64, or empty)"),
        (answer([], []), "not lists of numbers"),
        (
            answer([1.0, 2.0], [1.0]),
            "2 vectors of different lengths (1 of 2 values, 1 of 1 values; text 1 got 1",
        ),
        (answer([1.0, math.nan], [1.0, 1.0]), "NaN or infinity"),
    ],
)
def test_an_endpoint_reply_that_is_not_one_vector_per_text(body, words):
    with pytest.raises(UnreadableReply) as info:
        endpoint_result(json.loads(json.dumps(body)), request("x", "y"))
    assert info.value.guidance == words or words in info.value.guidance


def test_a_router_array_is_one_row_per_text():
    rows = numpy.array([[1, 2], [3, 4]], dtype="float32")
    assert router_result(rows, request("x", "y"))["embeddings"] == [[1.0, 2.0], [3.0, 4.0]]
    # A sentence-transformers model asked for one text may answer one flat vector.
    assert router_result(numpy.array([1, 2], dtype="float32"), request("x"))["embeddings"] == [[1.0, 2.0]]
    with pytest.raises(UnreadableReply, match="answered 2 vector"):
        router_result(numpy.array([1, 2], dtype="float32"), request("x", "y", "z"))
    with pytest.raises(UnreadableReply, match="shape 2 x 1 x 3 x 4, not one vector per text"):
        router_result(numpy.zeros((2, 1, 3, 4), dtype="float32"), request("x", "y"))


def test_numpys_refusal_of_ragged_rows_is_an_unreadable_reply_and_other_errors_stay():
    try:
        numpy.array([[1.0, 2.0], [1.0]], dtype="float32")
    except ValueError as error:
        ragged = unreadable_array(error)
    assert isinstance(ragged, UnreadableReply)
    assert "vectors of different lengths" in ragged.guidance
    other = ValueError("Model x is not supported by provider y.")
    assert unreadable_array(other) is other
