"""The retrieval example's vector store: PostgreSQL with pgvector, reached through Airflow's own hooks.

Chunks of real documents, embedded by the fake HF API's vector function, go in; the nearest by cosine
distance come back in order, through a table scan and through an HNSW index.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pytest

from airflow_provider_huggingface.embeddings import chunk_documents
from tests.fakes.embeddings import embedding_vector
from tests.vectorstore.plugin import PGVECTOR_CONN_ID

if TYPE_CHECKING:
    from tests.services import Service

pytestmark = pytest.mark.vectorstore

DIM = 16
DOCUMENTS = [
    ("cats.md", "Cats sleep most of the day. They hunt at dusk and dawn.\n\nA cat purrs when it is content."),
    ("boats.md", "River boats drift past old stone bridges. The boatman steers with a long pole."),
    ("bread.md", "Bread needs flour, water, salt and yeast. Knead the dough, then let it rise."),
]


def literal(vector: list[float]) -> str:
    """pgvector's text form; a ``%s::vector`` parameter takes it with psycopg 2 and 3 alike."""
    return "[" + ",".join(repr(x) for x in vector) + "]"


def cosine_distance(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return 1 - dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


@pytest.fixture
def chunk_table(pgvector_db: Service):
    from airflow.providers.pgvector.hooks.pgvector import PgVectorHook

    hook = PgVectorHook(postgres_conn_id=PGVECTOR_CONN_ID)
    hook.create_extension("vector")  # already there: the fixture made it; IF NOT EXISTS
    hook.drop_table("chunks")
    hook.create_table(
        "chunks",
        [
            "id text PRIMARY KEY",
            "document_id text",
            "start_offset int",
            "body text",
            f"embedding vector({DIM})",
        ],
    )
    chunks = list(chunk_documents(DOCUMENTS, chunk_size=40, overlap=10))
    for chunk in chunks:
        hook.run(
            "INSERT INTO chunks VALUES (%s, %s, %s, %s, %s::vector)",
            parameters=(
                chunk.id,
                chunk.document_id,
                chunk.start,
                chunk.text,
                literal(embedding_vector(chunk.text, DIM)),
            ),
        )
    yield hook, chunks
    hook.drop_table("chunks")


def nearest(hook, query: list[float], k: int) -> list[tuple[str, str, float]]:
    return hook.get_records(
        "SELECT id, body, embedding <=> %s::vector AS distance FROM chunks ORDER BY distance LIMIT %s",
        parameters=(literal(query), k),
    )


def test_nearest_chunks_by_cosine_distance(chunk_table) -> None:
    hook, chunks = chunk_table
    assert hook.get_first("SELECT count(*) FROM chunks")[0] == len(chunks) > len(DOCUMENTS)

    target = chunks[4]
    query = embedding_vector(target.text, DIM)
    found = nearest(hook, query, 3)

    assert found[0][:2] == (target.id, target.text)
    assert found[0][2] == pytest.approx(0.0, abs=1e-6)
    distances = [row[2] for row in found]
    assert distances == sorted(distances)
    # The database's cosine distance is the one computed here from the same vectors.
    by_id = {chunk.id: chunk for chunk in chunks}
    for chunk_id, _, distance in found:
        assert distance == pytest.approx(
            cosine_distance(query, embedding_vector(by_id[chunk_id].text, DIM)), abs=1e-5
        )


def test_an_hnsw_index_answers_the_same(chunk_table) -> None:
    hook, chunks = chunk_table
    query = embedding_vector(chunks[1].text, DIM)
    scanned = nearest(hook, query, 3)

    hook.run("CREATE INDEX chunks_embedding ON chunks USING hnsw (embedding vector_cosine_ops)")
    conn = hook.get_conn()
    with conn.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM chunks ORDER BY embedding <=> %s::vector LIMIT 3", (literal(query),)
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SELECT id FROM chunks ORDER BY embedding <=> %s::vector LIMIT 3", (literal(query),))
        indexed = [row[0] for row in cursor.fetchall()]
    conn.close()

    assert "chunks_embedding" in plan
    assert indexed == [row[0] for row in scanned]


def test_the_extension_and_server_versions(pgvector_db: Service) -> None:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    hook = PostgresHook(postgres_conn_id=PGVECTOR_CONN_ID)
    (version,) = hook.get_first("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    assert tuple(int(part) for part in version.split(".")[:2]) >= (0, 8)
    assert hook.get_first("SHOW server_version_num")[0] >= "180000"
