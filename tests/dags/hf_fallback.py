"""Fallback models: the first model is down, the next one answers (sync, deferred, decorated)."""

from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

with DAG(dag_id="hf_fallback", schedule=None):
    for task_id, deferrable in (("sync", False), ("deferred", True)):
        HuggingFaceChatOperator(
            task_id=task_id,
            hf_conn_id="hf_fake",
            user_prompt="Hello from {{task_id}}",
            model="org/down",
            fallback_models=["org/loading", "org/up"],
            deferrable=deferrable,
        )

    @task.huggingface_chat(hf_conn_id="hf_fake", model="org/gone", fallback_models=["org/up"])
    def decorated() -> str:
        return "Hello from the decorator"

    decorated()

    # A bad token is the token's fault, not the model's: no fallback model is asked.
    HuggingFaceChatOperator(
        task_id="rejected",
        hf_conn_id="hf_fake_rejected",
        user_prompt="Hello",
        model="org/first",
        fallback_models=["org/up"],
    )
