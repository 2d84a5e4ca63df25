"""Retrieval (RAG): documents in a folder are cut into chunks and embedded, the vectors go to PostgreSQL
with pgvector, the chunks nearest a question are retrieved, and a chat model answers from them.

- ``read_documents``: the ``.md`` and ``.txt`` files of ``params.documents`` (a folder URI; by default
  the few pages beside this file).
- ``embed_chunks``: ``HuggingFaceEmbeddingOperator`` cuts each document into chunks of about 500
  characters and writes a vector per chunk to a JSON Lines file under ``params.vectors``, which a retry
  resumes from.
- ``load_vectors``: the file into the table ``retrieval_chunks`` through Airflow's pgvector provider
  (rebuilt on each run: the vectors of one model, of one length).
- ``retrieve``: the question embedded with the same model, and the nearest chunks by cosine distance.
- ``answer``: ``HuggingFaceChatOperator``, with the chunks in its prompt (``{{#each retrieve.chunks}}``).

Connections: ``pgvector_default``, a PostgreSQL database where ``CREATE EXTENSION vector`` works, and
the Hugging Face ones named by ``params.embedding_conn`` and ``params.chat_conn`` (both
``huggingface_default`` by default: the router does both; a TEI server for the vectors and a vLLM or
llama.cpp server for the answer take one each). Trigger with ``{"question": "..."}`` for your own.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.embedding import HuggingFaceEmbeddingOperator
from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

PGVECTOR_CONN = "pgvector_default"
TABLE = "retrieval_chunks"
TOP_CHUNKS = 4

with DAG(
    dag_id="example_huggingface_retrieval",
    schedule=None,
    catchup=False,
    params={
        "question": "How does a batch resume after a crash?",
        "documents": (Path(__file__).parent / "retrieval_docs").as_uri(),
        "vectors": (Path(tempfile.gettempdir()) / "airflow_retrieval_vectors").as_uri(),
        "embedding_conn": "huggingface_default",
        "chat_conn": "huggingface_default",
    },
    tags=["huggingface", "example"],
    doc_md=__doc__,
):

    @task
    def read_documents(params: dict | None = None) -> list[dict]:
        """Every page of the folder as ``{"id": its file name, "text": ...}``."""
        from airflow.sdk import ObjectStoragePath

        folder = ObjectStoragePath((params or {})["documents"])
        pages = sorted(path for path in folder.iterdir() if path.suffix in (".md", ".txt"))
        return [{"id": path.name, "text": path.read_text(encoding="utf-8")} for path in pages]

    embed_chunks = HuggingFaceEmbeddingOperator(
        task_id="embed_chunks",
        hf_conn_id="{{ params.embedding_conn }}",
        inputs=read_documents(),
        text_template="{{item.text}}",
        chunk_size=500,
        chunk_overlap=80,
        output_path="{{ params.vectors }}",
    )

    @task
    def load_vectors(embedded: dict) -> int:
        """The file of vectors into a pgvector table, a row per chunk, with an HNSW index."""
        import contextlib
        import json

        from airflow.providers.pgvector.hooks.pgvector import PgVectorHook
        from airflow.sdk import ObjectStoragePath

        hook = PgVectorHook(postgres_conn_id=PGVECTOR_CONN)
        hook.create_extension("vector")
        hook.run(f"DROP TABLE IF EXISTS {TABLE}")
        hook.create_table(
            TABLE,
            [
                "id text PRIMARY KEY",
                "document_id text",
                "start_offset int",
                "body text",
                f"embedding vector({embedded['dimensions']})",
            ],
        )
        insert = f"INSERT INTO {TABLE} VALUES (%s, %s, %s, %s, %s::vector)"
        rows = 0
        with contextlib.closing(hook.get_conn()) as conn:
            with conn.cursor() as cursor, ObjectStoragePath(embedded["path"]).open("r") as lines:
                for line in lines:
                    chunk = json.loads(line)
                    vector = "[" + ",".join(map(repr, chunk["embedding"])) + "]"
                    cursor.execute(
                        insert, (chunk["id"], chunk["document_id"], chunk["start"], chunk["text"], vector)
                    )
                    rows += 1
                cursor.execute(f"CREATE INDEX ON {TABLE} USING hnsw (embedding vector_cosine_ops)")
            conn.commit()
        return rows

    @task
    def retrieve(embedded: dict, rows: int, params: dict | None = None) -> dict:
        """The question's vector (the same model as the chunks'), and the chunks nearest it."""
        from airflow.providers.pgvector.hooks.pgvector import PgVectorHook

        from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook

        params = params or {}
        question = params["question"]
        hook = HuggingFaceHook(hf_conn_id=params["embedding_conn"])
        (vector,) = hook.embed([question], model=embedded["model"])["embeddings"]
        found = PgVectorHook(postgres_conn_id=PGVECTOR_CONN).get_records(
            f"SELECT id, body, embedding <=> %s::vector AS distance FROM {TABLE} ORDER BY distance LIMIT %s",
            parameters=("[" + ",".join(map(repr, vector)) + "]", TOP_CHUNKS),
        )
        chunks = [{"id": id_, "text": body, "distance": float(distance)} for id_, body, distance in found]
        return {"question": question, "chunks": chunks}

    answer = HuggingFaceChatOperator(
        task_id="answer",
        hf_conn_id="{{ params.chat_conn }}",
        system_prompt=(
            "Answer the question from the context alone, in two or three sentences, and name the ids of "
            "the chunks you used in brackets. If the context does not say, answer that it does not."
        ),
        user_prompt=(
            "Context:\n{{#each retrieve.chunks}}[{{this.id}}] {{this.text}}\n\n{{/each}}"
            "Question: {{retrieve.question}}"
        ),
        max_tokens=300,
    )

    embedded = embed_chunks.output
    retrieve(embedded, load_vectors(embedded)) >> answer
