"""Task ids with dots and dashes, an ambiguous path, a task named like a scope name, logical_date."""

from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

with DAG(dag_id="hf_task_ids", schedule=None):

    @task(task_id="fetch")
    def fetch() -> dict:
        return {"data": "plain fetch", "v2": {"text": "fetch's own v2 key"}, "key with space": "spaced"}

    @task(task_id="fetch.v2")
    def fetch_v2() -> dict:
        return {"text": "the dotted task"}

    @task(task_id="my-task")
    def dashed() -> dict:
        return {"value": "dashed"}

    @task(task_id="conf")
    def conf_task() -> dict:
        return {"who": "the task, not the run's conf"}

    named = HuggingFaceChatOperator(
        task_id="named",
        hf_conn_id="hf_fake",
        user_prompt=(
            "data={{fetch.data}} dotted={{[fetch.v2].text}} dashed={{my-task.value}} "
            "bracket={{[my-task].value}} key={{fetch.[key with space]}} "
            "own={{#with fetch}}{{v2.text}}{{/with}} year={{logical_date.year}} conf={{conf.who}}"
        ),
    )
    ambiguous = HuggingFaceChatOperator(
        task_id="ambiguous", hf_conn_id="hf_fake", user_prompt="Say {{fetch.v2.text}}"
    )
    [fetch(), fetch_v2(), dashed(), conf_task()] >> named >> ambiguous
