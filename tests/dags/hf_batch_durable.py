"""HuggingFaceBatchChatOperator with a file of replies: resumed retries, files of inputs, budgets.

Each run names its folders in ``conf``: ``out`` (output_path) and, for ``hf_batch_file``, ``inputs``
(a JSON Lines or CSV file).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.batch import HuggingFaceBatchChatOperator


@task
def items(dag_run=None) -> list:
    return dag_run.conf["items"]


with DAG(dag_id="hf_batch_durable", schedule=None):
    # One Airflow retry at once: the second try resumes from the first one's file.
    HuggingFaceBatchChatOperator(
        task_id="batch",
        hf_conn_id="hf_fake",
        inputs=items(),
        user_prompt="{{item}}",
        output_path="{{ dag_run.conf['out'] }}",
        max_concurrency=4,
        retries=1,
        retry_delay=timedelta(0),
    )


with DAG(dag_id="hf_batch_file", schedule=None):
    HuggingFaceBatchChatOperator(
        task_id="batch",
        hf_conn_id="hf_fake",
        inputs="{{ dag_run.conf['inputs'] }}",
        user_prompt="{{item.q}}",
        output_path="{{ dag_run.conf['out'] }}",
        max_concurrency=4,
    )


with DAG(dag_id="hf_batch_budget", schedule=None):
    HuggingFaceBatchChatOperator(
        task_id="batch",
        hf_conn_id="hf_fake",
        inputs=items(),
        user_prompt="{{item}}",
        max_concurrency=2,
        max_calls=5,
    )


with DAG(dag_id="hf_batch_serial", schedule=None):
    # One call at a time, so which items were answered before the stop is known in advance.
    HuggingFaceBatchChatOperator(
        task_id="batch",
        hf_conn_id="hf_fake",
        inputs=items(),
        user_prompt="{{item}}",
        max_concurrency=1,
        max_failed_fraction=0.05,
    )
