"""``@task.huggingface_chat`` and ``@task.huggingface_branch`` deferred to the triggerer.

Their functions do not run again when the tasks resume, and Airflow stores the rendered fields again
after the resumed run: the rendered ``user_prompt`` must still be the prompt the model received.

Retries with no delay, as in ``hf_many_deferred``: the LocalExecutor can report a deferring run's exit
after the trigger fired and the task resumed, and the scheduler then fails it as "state changed
externally" (an Airflow race, seen once on 3.0.6 here). A retry sends the same prompt again.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, task

with DAG(
    dag_id="hf_deferred_decorated",
    schedule=None,
    default_args={"retries": 2, "retry_delay": timedelta(0)},
):

    @task
    def ticket() -> dict:
        return {"text": "My card was charged {{twice}}"}

    @task.huggingface_chat(max_tokens=20, deferrable=True)
    def summarize(subject: dict, dag_run=None) -> str:
        return f"Summarize: {subject['text']} ({(dag_run.conf or {}).get('pasted', '')})"

    @task.huggingface_branch(deferrable=True)
    def route(subject: dict, dag_run=None) -> str:
        return f"Route: {subject['text']} ({(dag_run.conf or {}).get('pasted', '')})"

    fetched = ticket()
    summarize(fetched)
    route(fetched) >> [EmptyOperator(task_id="billing"), EmptyOperator(task_id="bug")]
