"""The fake's embedding vectors and the recorded real answers it can replay."""

from __future__ import annotations

import math

import pytest

from tests.fakes.embeddings import (
    embedding_vector,
    feature_extraction_path,
    load_recorded,
    shape_vectors,
)


def test_vectors_are_a_function_of_the_text() -> None:
    assert embedding_vector("same text") == embedding_vector("same text")
    assert embedding_vector("same text") != embedding_vector("same text.")
    assert len(embedding_vector("x", 384)) == 384
    assert math.fsum(v * v for v in embedding_vector("x", 384)) == pytest.approx(1.0, abs=1e-5)
    # Fewer dimensions are the first values of the full vector, normalised again (Matryoshka style).
    raw = embedding_vector("x", 32, normalize=False)
    assert embedding_vector("x", 8, normalize=False) == raw[:8]
    assert math.fsum(v * v for v in raw) > 2  # far from unit length unless normalised


def test_error_switches_shape_the_vectors() -> None:
    vectors = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    assert shape_vectors(vectors, count_offset=-1, ragged=False) == vectors[:2]
    assert shape_vectors(vectors, count_offset=-5, ragged=False) == []
    assert shape_vectors(vectors, count_offset=1, ragged=False) == [*vectors, [5.0, 6.0]]
    assert shape_vectors(vectors, count_offset=0, ragged=True) == [[1.0, 2.0], [3.0], [5.0, 6.0]]


def test_recorded_answers_carry_their_source() -> None:
    pooled = load_recorded("feature_extraction_all-MiniLM-L6-v2")
    assert pooled.status == 200
    assert pooled.request["body"] == {"inputs": "Hi, who are you?"}
    assert pooled.source["repository"].startswith("huggingface/huggingface_hub")
    assert len(pooled.source["commit"]) == 40
    assert len(pooled.body) == 384
    assert math.fsum(v * v for v in pooled.body) == pytest.approx(
        1.0, abs=1e-5
    )  # sentence-transformers normalises

    per_token = load_recorded("feature_extraction_bart-base_two_texts")
    assert per_token.request["body"] == {"inputs": ["Hi", "Hey"]}
    shape = (
        len(per_token.body),
        len(per_token.body[0]),
        len(per_token.body[0][0]),
        len(per_token.body[0][0][0]),
    )
    assert shape == (2, 1, 3, 768)


def test_router_path() -> None:
    assert feature_extraction_path("BAAI/bge-small-en-v1.5") == (
        "/hf-inference/models/BAAI/bge-small-en-v1.5/pipeline/feature-extraction"
    )
