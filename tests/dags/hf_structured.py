"""Structured output in DAG runs: the parsed JSON in the XCom, used by a downstream task."""

from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

COUNT = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}

with DAG(dag_id="hf_structured", schedule=None):
    count = HuggingFaceChatOperator(
        task_id="count",
        hf_conn_id="hf_fake",
        user_prompt="How many?",
        response_format={"type": "json_schema", "json_schema": {"name": "count", "schema": COUNT}},
    )

    @task.huggingface_chat(hf_conn_id="hf_fake", response_format={"type": "json_object"})
    def listed(counted: dict) -> str:
        return f"List {counted['json']['n']} words as JSON."

    @task
    def use(counted: dict, words: dict) -> str:
        return f"n={counted['json']['n']} words={','.join(words['json']['words'])}"

    use(count.output, listed(count.output))
