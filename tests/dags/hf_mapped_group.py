"""A mapped task group: each instance summarizes its own document; a task after the group sees all."""

from __future__ import annotations

from airflow.sdk import DAG, task, task_group

from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

with DAG(dag_id="hf_mapped_group", schedule=None):

    @task
    def documents() -> list[str]:
        return ["the river report", "the mountain survey", "the desert census"]

    @task_group
    def per_doc(document: str):
        @task
        def fetch(document: str) -> dict:
            return {"data": document.upper()}

        summarize = HuggingFaceChatOperator(
            task_id="summarize",
            hf_conn_id="hf_fake",
            user_prompt="Summarize: {{per_doc.fetch.data}}",
        )
        fetch(document) >> summarize

    combine = HuggingFaceChatOperator(
        task_id="combine",
        hf_conn_id="hf_fake",
        user_prompt="Combine: {{#each per_doc.summarize}}[{{text}}]{{/each}} from {{per_doc.fetch}}",
    )
    per_doc.expand(document=documents()) >> combine
