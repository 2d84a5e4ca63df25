"""Files a task reads, named in the run's ``conf``: a batch's ``inputs`` (and its ``output_path``),
a chat's ``images``. One Airflow retry each, so a test sees whether an error spends it."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_huggingface.operators.batch import HuggingFaceBatchChatOperator
from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

RETRIED = {"retries": 1, "retry_delay": timedelta(0)}

with DAG(dag_id="hf_inputs_file", schedule=None):
    HuggingFaceBatchChatOperator(
        task_id="batch",
        hf_conn_id="hf_fake",
        inputs="{{ dag_run.conf['inputs'] }}",
        user_prompt="{{item.text}}",
        output_path="{{ dag_run.conf.get('out', '') }}",
        max_concurrency=2,
        **RETRIED,
    )


with DAG(dag_id="hf_inputs_image", schedule=None):
    HuggingFaceChatOperator(
        task_id="look",
        hf_conn_id="hf_fake",
        user_prompt="What is in this picture?",
        images="{{ dag_run.conf['image'] }}",
        **RETRIED,
    )
