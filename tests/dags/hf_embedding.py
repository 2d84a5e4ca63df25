"""HuggingFaceEmbeddingOperator: texts and dicts from an upstream task or a file, vectors to XCom or to a
file a retry resumes from, documents cut into chunks.

Runs name their inputs in ``conf["items"]`` (else TEXTS), and, where they write files, their folder in
``conf["out"]`` and a file of inputs in ``conf["inputs"]``.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.embedding import HuggingFaceEmbeddingOperator

TEXTS = ["the cat sat on the mat", "a dog ran home", "river boats drift", "bread needs yeast", "rain"]


@task
def items(dag_run=None) -> list:
    """The run's ``conf["items"]``, else TEXTS: each test picks its own inputs."""
    return (dag_run.conf or {}).get("items", TEXTS)


def embed_task(**kwargs) -> HuggingFaceEmbeddingOperator:
    """The embedding task of a DAG below: on the fake's connection, over ``items()`` unless told otherwise."""
    kwargs.setdefault("inputs", items())
    kwargs.setdefault("hf_conn_id", "hf_fake")
    task = HuggingFaceEmbeddingOperator(task_id="embed", **kwargs)
    task.progress_interval = 0.05  # a progress line even in a short test run
    return task


with DAG(dag_id="hf_embed", schedule=None):
    # Two texts a request, four requests at once: the order of the answers is not the inputs'.
    embed = embed_task(batch_size=2, max_concurrency=4)

    @task
    def first_vector(result: dict) -> list:
        return result["embeddings"][0]

    first_vector(embed.output)


with DAG(dag_id="hf_embed_dicts", schedule=None):
    embed_task(
        text_template="{{item.title}}: {{item.body}}",
        output_path="{{ dag_run.conf['out'] }}",
        batch_size=2,
    )


with DAG(dag_id="hf_embed_file", schedule=None):
    embed_task(
        inputs="{{ dag_run.conf['inputs'] }}",
        text_template="{{item.q}}",
        output_path="{{ dag_run.conf['out'] }}",
        batch_size=3,
        max_concurrency=2,
    )


with DAG(dag_id="hf_embed_durable", schedule=None):
    # One request at a time, so which texts were embedded before a failure is known; one Airflow retry.
    embed_task(
        output_path="{{ dag_run.conf['out'] }}",
        batch_size=2,
        max_concurrency=1,
        retries=1,
        retry_delay=timedelta(0),
    )


with DAG(dag_id="hf_embed_chunks", schedule=None):
    embed_task(
        text_template="{{item.body}}",
        output_path="{{ dag_run.conf['out'] }}",
        chunk_size=40,
        chunk_overlap=10,
        batch_size=4,
    )


with DAG(dag_id="hf_embed_llama", schedule=None):
    # Documents of a JSON Lines file, cut into chunks, embedded by a llama.cpp server.
    llama = embed_task(
        hf_conn_id="hf_llama_embed",
        inputs="{{ dag_run.conf['inputs'] }}",
        text_template="{{item.text}}",
        output_path="{{ dag_run.conf['out'] }}",
        chunk_size=120,
        chunk_overlap=20,
        max_concurrency=4,
    )
    llama.progress_interval = 5.0  # a run of seconds: the usual lines
