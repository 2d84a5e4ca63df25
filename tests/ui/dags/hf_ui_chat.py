"""A real HuggingFaceChatOperator for the browser tier: its model is retired (the fake answers it with a
410), so its fallback answers, and the task's link must name the fallback's Hub page."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

RETIRED = "acme/retired-chat"
ANSWERED_BY = "mistralai/Mistral-7B-Instruct-v0.3"

with DAG(dag_id="hf_ui_chat", schedule=None):
    HuggingFaceChatOperator(
        task_id="summarize",
        hf_conn_id="hf_ui_chat",
        model=RETIRED,
        fallback_models=[ANSWERED_BY],
        user_prompt="Summarize the news in one line.",
        retries=0,
    )
