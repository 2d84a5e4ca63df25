"""The same chat tasks deferred (``hf_deferrable``) and in the worker (``hf_deferrable_sync``).

Their XComs must be the same. Retries are allowed with no delay, so an error that wrongly
lets Airflow retry shows as extra requests instead of a run that waits minutes for a retry.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

for dag_id, deferrable in (("hf_deferrable", True), ("hf_deferrable_sync", False)):
    with DAG(dag_id=dag_id, schedule=None, default_args={"retries": 2, "retry_delay": timedelta(0)}):

        @task(task_id="httpRequest")
        def http_request() -> dict:
            return {"data": "Paris & <Lyon>"}

        fetched = http_request()
        fetched >> HuggingFaceChatOperator(
            task_id="chat",
            hf_conn_id="hf_fake",
            system_prompt="Answer in one line.",
            user_prompt="Summarize: {{httpRequest.data}}",
            max_tokens=50,
            stop=["\n\n"],
            # Ignored when deferred (with a warning): the XCom is the same either way.
            stream=True,
            deferrable=deferrable,
        )
        fetched >> HuggingFaceChatOperator(
            task_id="structured",
            hf_conn_id="hf_fake",
            user_prompt="Where is {{httpRequest.data}}? Answer in JSON.",
            response_format={"type": "json_object"},
            deferrable=deferrable,
        )
