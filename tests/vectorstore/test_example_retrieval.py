"""The retrieval example DAG end to end: chunks embedded, loaded into PostgreSQL with pgvector through
Airflow's providers, the nearest ones retrieved, a chat model answering from them. Against the local
fake, and against llama.cpp (a chat server and an embedding server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_huggingface.embeddings import chunk_documents
from tests.fakes.embeddings import embedding_vector
from tests.vectorstore.pgvector import connection_uri

pytestmark = pytest.mark.vectorstore

DOCS = Path(__file__).resolve().parents[2] / "example_dags" / "retrieval_docs"
TOKEN = "hf_retrievalexamplecanary001"


def example_chunks():
    pages = sorted(DOCS.glob("*.md"))
    documents = [{"id": page.name, "text": page.read_text(encoding="utf-8")} for page in pages]
    return list(chunk_documents(documents, chunk_size=500, overlap=80))


@pytest.fixture
def vector_store(pgvector_db, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_PGVECTOR_DEFAULT", connection_uri(pgvector_db))
    return pgvector_db


def test_the_example_answers_from_the_chunks_nearest_the_question(
    vector_store, fake_hf, use_connection, run_dag, tmp_path
):
    use_connection("huggingface_default", host=fake_hf.url, password=TOKEN)
    fake_hf.reply = "From the context: it resumes."
    chunks = example_chunks()
    target = next(chunk for chunk in chunks if chunk.document_id == "batches.md" and chunk.index == 1)
    # The question is a chunk's own text: the fake gives both the same vector, at distance 0.
    run = run_dag(
        "example_huggingface_retrieval", run_conf={"question": target.text, "vectors": tmp_path.as_uri()}
    )

    assert run.state == "success", run.states
    assert run.xcom["load_vectors"] == len(chunks) > len(list(DOCS.glob("*.md")))
    embedded = run.xcom["embed_chunks"]
    assert (embedded["count"], embedded["dimensions"]) == (len(chunks), 16)
    sent = [text for request in fake_hf.embedding_requests for text in request.body["input"]]
    assert sorted(sent[:-1]) == sorted(chunk.text for chunk in chunks)
    assert sent[-1] == target.text  # the question, last
    retrieved = run.xcom["retrieve"]["chunks"]
    assert [chunk["id"] for chunk in retrieved][:1] == [target.id]
    assert retrieved[0]["distance"] == pytest.approx(0.0, abs=1e-6)
    assert len(retrieved) == 4
    assert [chunk["distance"] for chunk in retrieved] == sorted(chunk["distance"] for chunk in retrieved)
    by_id = {chunk.id: chunk for chunk in chunks}
    assert all(chunk["text"] == by_id[chunk["id"]].text for chunk in retrieved)
    # The answer's prompt holds the retrieved chunks, in order, each with its id, then the question.
    prompt = fake_hf.chat_requests[-1].body["messages"][-1]["content"]
    expected = "".join(f"[{chunk['id']}] {chunk['text']}\n\n" for chunk in retrieved)
    assert prompt == f"Context:\n{expected}Question: {target.text}"
    assert run.xcom["answer"]["text"] == "From the context: it resumes."
    assert fake_hf.embedding_requests[0].token == TOKEN


def test_the_vectors_in_the_table_are_the_models(vector_store, fake_hf, use_connection, run_dag, tmp_path):
    from airflow.providers.pgvector.hooks.pgvector import PgVectorHook

    use_connection("huggingface_default", host=fake_hf.url)
    run = run_dag("example_huggingface_retrieval", run_conf={"vectors": tmp_path.as_uri()})
    assert run.state == "success", run.states

    rows = PgVectorHook(postgres_conn_id="pgvector_default").get_records(
        "SELECT id, body, embedding::text FROM retrieval_chunks ORDER BY id"
    )
    chunks = {chunk.id: chunk for chunk in example_chunks()}
    assert sorted(row[0] for row in rows) == sorted(chunks)
    for chunk_id, body, vector in rows:
        assert body == chunks[chunk_id].text
        stored = [float(value) for value in vector.strip("[]").split(",")]
        assert stored == pytest.approx(embedding_vector(body), abs=1e-6)  # pgvector keeps float32


@pytest.mark.llama
def test_the_example_against_llama_cpp(
    vector_store, llama_server, llama_embedding_server, use_connection, run_dag, tmp_path
):
    use_connection("hf_llama_chat", host=llama_server.url, extra={"timeout": 60})
    use_connection("hf_llama_embed", host=llama_embedding_server.url, extra={"timeout": 60})
    target = example_chunks()[2]
    conf = {
        "question": target.text,
        "vectors": tmp_path.as_uri(),
        "chat_conn": "hf_llama_chat",
        "embedding_conn": "hf_llama_embed",
    }
    run = run_dag("example_huggingface_retrieval", run_conf=conf)

    assert run.state == "success", run.states
    assert run.xcom["embed_chunks"]["dimensions"] == 64  # the tiny model's width
    assert run.xcom["embed_chunks"]["usage"]["prompt_tokens"] > 0  # llama.cpp reports usage
    retrieved = run.xcom["retrieve"]["chunks"]
    assert retrieved[0]["id"] == target.id  # the same text, the same vector (mean pooling)
    assert retrieved[0]["distance"] == pytest.approx(0.0, abs=1e-5)
    assert run.xcom["answer"]["text"].strip()
    assert run.xcom["answer"]["usage"]["completion_tokens"] > 0
