"""DAGs whose prompts or settings are wrong: each must fail before any request is sent."""

from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

CASES = {
    "hf_missing_path": {"user_prompt": "Summarize: {{httpRequest.dta}}"},
    "hf_bad_template": {"user_prompt": "{{#if httpRequest.data}}never closed"},
    "hf_bad_setting": {"user_prompt": "Hi", "temperature": 7},
    "hf_unauthorized": {"user_prompt": "Hi {{httpRequest.data}}"},
}

for dag_id, arguments in CASES.items():
    with DAG(dag_id=dag_id, schedule=None):

        @task(task_id="httpRequest")
        def http_request() -> dict:
            return {"data": "text"}

        http_request() >> HuggingFaceChatOperator(
            task_id="chat", hf_conn_id="hf_fake", retries=2, **arguments
        )
