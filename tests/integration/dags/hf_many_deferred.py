"""Many deferred chat tasks at once: ``count`` mapped tasks that wait for their replies in the triggerer.

Retries with no delay: with a few worker slots, Airflow 3.3's LocalExecutor can report the deferring
run's exit after the trigger has already fired and the task was queued again under the same key; the
scheduler then fails it as "state changed externally" (an Airflow race, not a failed call). A retry
resumes it; the test counts those tries.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

with DAG(
    dag_id="hf_many_deferred",
    schedule=None,
    params={"count": 100},
    default_args={"retries": 2, "retry_delay": timedelta(0)},
):

    @task
    def prompts(params: dict | None = None) -> list[str]:
        return [f"Question {i} of the many deferred" for i in range(int((params or {})["count"]))]

    HuggingFaceChatOperator.partial(task_id="chat", max_tokens=10, deferrable=True).expand(
        user_prompt=prompts()
    )
