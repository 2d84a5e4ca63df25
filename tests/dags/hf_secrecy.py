"""One chat task for the token secrecy tests: Airflow retries it at once, so failing paths stay quick."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

with DAG(dag_id="hf_secrecy", schedule=None):

    @task
    def fetch() -> dict:
        return {"data": "a short text"}

    fetch() >> HuggingFaceChatOperator(
        task_id="ask",
        hf_conn_id="hf_secrecy",
        system_prompt="Answer in one line.",
        user_prompt="Summarize: {{fetch.data}}",
        max_tokens=20,
        retries=1,
        retry_delay=timedelta(0),
    )
