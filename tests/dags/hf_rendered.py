"""The prompts as sent, stored as the task's rendered template fields."""

from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

with DAG(dag_id="hf_rendered", schedule=None, params={"who": "Ada", "max_tokens": 30}):

    @task
    def fetch() -> dict:
        return {"text": "The quarterly report. " * 20}

    HuggingFaceChatOperator(
        task_id="chat",
        hf_conn_id="hf_fake",
        system_prompt="You write for {{params.who}}.",
        user_prompt="Summarize: {{fetch.text}}| pasted: {{conf.pasted}}",
        max_tokens="{{ params.max_tokens }}",
    ).set_upstream(fetch())
