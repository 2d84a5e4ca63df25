"""HuggingFaceChatOperator with max_total_tokens: a call's max_tokens and its structured-output re-ask
stay within it, in the worker and deferred."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

JSON = {"type": "json_object"}

with DAG(dag_id="hf_chat_budget", schedule=None):
    HuggingFaceChatOperator(
        task_id="capped", hf_conn_id="hf_fake", user_prompt="Tell me more", max_tokens=50, max_total_tokens=10
    )
    for deferrable in (False, True):
        suffix = "_deferred" if deferrable else ""
        HuggingFaceChatOperator(
            task_id=f"reask{suffix}",
            hf_conn_id="hf_fake",
            user_prompt="Give JSON please",
            response_format=JSON,
            max_total_tokens=40,
            deferrable=deferrable,
        )
        HuggingFaceChatOperator(
            task_id=f"no_room{suffix}",
            hf_conn_id="hf_fake",
            user_prompt="Give JSON now",
            response_format=JSON,
            max_total_tokens=8,
            deferrable=deferrable,
            retries=0,
        )
