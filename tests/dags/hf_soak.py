"""The operator and batch parts of the soak test (tests/soak), each driven by its run's conf.

``hf_soak``: one mapped chat task per call, triggered with ``{"calls": [{"user_prompt": "...", "stream":
false}, ...]}``. Each failed task's exception class is appended, as a JSON line, to the file named by
``HF_SOAK_OUTCOMES`` when that is set, so the test can check that every failure was classified
(successes are in XCom).

``hf_soak_batch``: one batch task, triggered with ``{"items": [{"id": "soak-400"}, ...]}``; every
outcome, failures included, is in its XCom.
"""

from __future__ import annotations

import json
import os

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.batch import HuggingFaceBatchChatOperator
from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

OUTCOMES_ENV = "HF_SOAK_OUTCOMES"


def record_failure(context) -> None:
    path = os.environ.get(OUTCOMES_ENV)
    if not path:
        return
    error = context.get("exception")
    line = {
        "map_index": context["ti"].map_index,
        "error": type(error).__name__ if error is not None else None,
        "module": type(error).__module__ if error is not None else None,
        "message": str(error)[:500],
    }
    with open(path, "a") as out:
        out.write(json.dumps(line) + "\n")


with DAG(dag_id="hf_soak", schedule=None, params={"calls": []}):

    @task
    def calls(params: dict | None = None) -> list[dict]:
        return list((params or {}).get("calls") or [])

    # retries=0: each call is one task try, so the hook's own retries are all the fake sees.
    HuggingFaceChatOperator.partial(
        task_id="ask",
        hf_conn_id="hf_soak",
        max_tokens=50,
        retries=0,
        on_failure_callback=record_failure,
    ).expand_kwargs(calls())


with DAG(dag_id="hf_soak_batch", schedule=None, params={"items": []}):

    @task
    def items(params: dict | None = None) -> list[dict]:
        return list((params or {}).get("items") or [])

    # The soak's transient faults must not fail the task: every outcome is checked in the XCom.
    # retries=0, as above: the batch's own retries are all the fake sees.
    HuggingFaceBatchChatOperator(
        task_id="batch",
        hf_conn_id="hf_soak",
        inputs=items(),
        user_prompt="[{{item.id}}] In one sentence, why do retries need a limit?",
        max_tokens=50,
        max_concurrency=8,
        max_failed_fraction=1.0,
        retries=0,
    )
