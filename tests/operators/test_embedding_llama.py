"""HuggingFaceEmbeddingOperator against a real embedding server: llama.cpp with the tiny model (mean
pooling), nothing faked. The vectors in the file are the server's own answers for the same texts."""

from __future__ import annotations

import json
import random

import numpy
import pytest

from airflow_provider_huggingface.embeddings import chunk_documents
from dev.tiny_gguf import N_EMBD
from tests.embeddings.test_chunking import WORDS
from tests.llama.test_llama_embeddings import embed, vectors

pytestmark = pytest.mark.llama

CHUNKS = 1000


def documents(count: int) -> list[dict]:
    """Documents that the DAG's chunking (120 characters, 20 of overlap) cuts into ``count`` chunks."""
    rng = random.Random(7)
    docs: list[dict] = []
    total = 0
    while total < count:
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 9))).capitalize() + "."
            for _ in range(12)
        ]
        for size in range(1, len(sentences) + 1):  # the last document only as long as it must be
            doc = {"id": f"doc{len(docs)}", "text": " ".join(sentences[:size])}
            made = len(list(chunk_documents([doc], chunk_size=120, overlap=20)))
            if total + made >= count or size == len(sentences):
                break
        docs.append(doc)
        total += made
    assert total == count
    return docs


def test_a_thousand_chunks_get_the_servers_own_vectors(
    llama_embedding_server, use_connection, run_dag, tmp_path
):
    use_connection("hf_llama_embed", host=llama_embedding_server.url, extra={"timeout": 60})
    docs = documents(CHUNKS)
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps(doc) + "\n" for doc in docs), encoding="utf-8")
    out = tmp_path / "out"
    run = run_dag("hf_embed_llama", run_conf={"inputs": source.as_uri(), "out": out.as_uri()})

    assert run.state == "success", run.states
    result = run.xcom["embed"]
    assert (result["count"], result["dimensions"]) == (CHUNKS, N_EMBD)
    assert result["usage"]["prompt_tokens"] > CHUNKS  # llama.cpp reports usage
    with (out / "hf_embed_llama" / run.run_id / "embed.jsonl").open(encoding="utf-8") as file:
        lines = sorted((json.loads(line) for line in file), key=lambda line: line["index"])
    assert [line["index"] for line in lines] == list(range(CHUNKS))
    chunks = list(chunk_documents(docs, chunk_size=120, overlap=20))
    assert [line["text"] for line in lines] == [chunk.text for chunk in chunks]
    assert [line["id"] for line in lines] == [chunk.id for chunk in chunks]
    # The server's own answers for the same texts, asked in the operator's batches of 32: llama.cpp's
    # float sums depend on which texts share a decode batch (by up to 4e-5 here, in other batches).
    texts = [chunk.text for chunk in chunks]
    reference = [
        vector
        for start in range(0, CHUNKS, 32)
        for vector in vectors(embed(llama_embedding_server, texts[start : start + 32]))
    ]
    # The file keeps 9 significant digits, as many as a float32 has: equal as float32, value for value.
    written = numpy.array([line["embedding"] for line in lines], dtype=numpy.float32)
    assert written.shape == (CHUNKS, N_EMBD)
    assert numpy.array_equal(written, numpy.array(reference, dtype=numpy.float32))
