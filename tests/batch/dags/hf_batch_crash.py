"""A batch for the crash test: its task process writes its pid where ``conf["pidfile"]`` says, so the
test can kill it with SIGKILL halfway; one retry then resumes from the file of replies."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG

from airflow_provider_huggingface.operators.batch import HuggingFaceBatchChatOperator


def record_pid(context) -> None:
    Path(context["dag_run"].conf["pidfile"]).write_text(str(os.getpid()))


with DAG(dag_id="hf_batch_crash", schedule=None):
    HuggingFaceBatchChatOperator(
        task_id="batch",
        inputs="{{ dag_run.conf['inputs'] }}",
        user_prompt="{{item.q}}",
        output_path="{{ dag_run.conf['out'] }}",
        max_concurrency=8,
        retries=1,
        retry_delay=timedelta(0),
        on_execute_callback=record_pid,
    )
