"""A batch operator and a stub task context, for ``execute()`` without a DAG run."""

from __future__ import annotations

from types import SimpleNamespace

from airflow_provider_huggingface.operators.batch import HuggingFaceBatchChatOperator


def stub_context() -> dict:
    pushed: dict = {}
    ti = SimpleNamespace(
        dag_id="d",
        run_id="r",
        task_id="batch",
        map_index=-1,
        xcom_pull=lambda task_ids: None,
        xcom_push=lambda key, value: pushed.__setitem__(key, value),
        pushed=pushed,
    )
    return {"ti": ti, "dag": SimpleNamespace(task_ids=["batch"]), "params": {}, "run_id": "r"}


def operator(**kwargs) -> HuggingFaceBatchChatOperator:
    kwargs.setdefault("user_prompt", "{{item}}")
    return HuggingFaceBatchChatOperator(task_id="batch", hf_conn_id="hf_fake", **kwargs)
