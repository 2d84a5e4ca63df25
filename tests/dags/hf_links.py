"""The probe operator, which carries HuggingFaceModelLink: the model that answered through the router
(a fallback with a routing suffix), a model on an endpoint, and a task that fails after its call."""

from __future__ import annotations

from airflow.sdk import DAG

from tests.observability.probe import LineageProbeOperator

with DAG(dag_id="hf_links", schedule=None):
    LineageProbeOperator(
        task_id="router",
        hf_conn_id="hf_links_router",
        model="meta-llama/Llama-3.1-8B-Instruct",
        answered_by="Qwen/Qwen2.5-72B-Instruct:together",
        user_prompt="Hello",
    )
    LineageProbeOperator(task_id="endpoint", hf_conn_id="hf_links_endpoint", model="tgi", user_prompt="Hello")
    LineageProbeOperator(
        task_id="failing",
        hf_conn_id="hf_links_router",
        model="mistralai/Mistral-7B-Instruct-v0.3",
        user_prompt="Hello",
        fail=True,
        retries=0,
    )
