"""The batch operator with ``messages``: few-shot examples rendered per input, or data from upstream."""

from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.batch import HuggingFaceBatchChatOperator

with DAG(dag_id="hf_batch_messages", schedule=None, params={"lang": "French"}):

    @task
    def history() -> list[dict]:
        return [{"role": "user", "content": "data {{item}}"}, {"role": "assistant", "content": "ok"}]

    HuggingFaceBatchChatOperator(
        task_id="few_shot",
        hf_conn_id="hf_fake",
        inputs=["cat", "dog"],
        system_prompt="Translate into {{params.lang}}.",
        messages=[
            {"role": "user", "content": "house"},
            {"role": "assistant", "content": "maison"},
            {"role": "user", "content": "{{item}}"},
        ],
    )
    HuggingFaceBatchChatOperator(
        task_id="from_upstream",
        hf_conn_id="hf_fake",
        inputs=["one"],
        messages=history(),
        user_prompt="Now {{item}}",
    )
    HuggingFaceBatchChatOperator(
        task_id="bad_role",
        hf_conn_id="hf_fake",
        inputs=["x"],
        messages=[{"role": "robot", "content": "{{item}}"}],
    )
