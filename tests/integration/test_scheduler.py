"""The example DAG under Airflow's own scheduler, not only ``dag.test()``.

A real scheduler, DAG processor, triggerer and API server with the LocalExecutor (``airflow_stack`` in
tests/integration/plugin.py) run ``example_huggingface_chat`` from ``example_dags/`` against a fake HF
API. Everything is observed the way an operator of Airflow would: through the REST API.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from tests.integration.plugin import CONNECTION_TOKEN

if TYPE_CHECKING:
    from tests.integration.plugin import AirflowStack

pytestmark = pytest.mark.scheduler

DAG_ID = "example_huggingface_chat"


def reply_to(body: dict[str, Any]) -> str:
    """The fake's answer: which task asked (the prompt's first word) and a digest of the whole prompt,
    so each XCom can be matched to the one request that produced it."""
    user = body["messages"][-1]["content"]
    digest = hashlib.sha256(user.encode()).hexdigest()[:12]
    return f"{user.split()[0].lower()}-reply-{digest}"


def chat_request(stack: AirflowStack, prefix: str) -> dict[str, Any]:
    """The body of the one chat request whose user message starts with ``prefix``."""
    bodies = [
        r.body for r in stack.fake.chat_requests if r.body["messages"][-1]["content"].startswith(prefix)
    ]
    assert len(bodies) == 1, f"expected one {prefix!r} request, got {len(bodies)}"
    return bodies[0]


def test_example_dag_runs_under_the_scheduler(scheduler_stack: AirflowStack) -> None:
    stack = scheduler_stack
    stack.fake.reply = reply_to
    stack.wait_for_dag(DAG_ID)
    run_id = f"itest_ok_{uuid.uuid4().hex[:8]}"

    stack.trigger(DAG_ID, run_id, conf={"language": "German"})
    run = stack.wait_for_run(DAG_ID, run_id)

    states = stack.task_states(DAG_ID, run_id)
    assert run["state"] == "success", f"{states}\n{stack.diagnostics()}"
    assert states == {"httpRequest": "success", "summarize": "success", "translate": "success"}
    summarize = stack.xcom(DAG_ID, run_id, "summarize")
    translate = stack.xcom(DAG_ID, run_id, "translate")
    summarize_body = chat_request(stack, "Summarize this text")
    translate_body = chat_request(stack, "Translate into German")
    # Each XCom read back through the REST API is exactly what the fake answered that task's request.
    assert summarize["text"] == reply_to(summarize_body)
    assert translate["text"] == reply_to(translate_body)
    assert translate["finish_reason"] == "stop"
    # The summary reached the translation prompt through XCom, and the run's conf through params.
    assert translate_body["messages"][-1]["content"] == f"Translate into German: {summarize['text']}"
    assert translate_body["messages"][0]["role"] == "system"
    # The connection given in the environment reached the worker processes, token included.
    assert {r.token for r in stack.fake.chat_requests} == {CONNECTION_TOKEN}


def test_rejected_token_fails_the_run_with_guidance(scheduler_stack: AirflowStack) -> None:
    stack = scheduler_stack
    stack.fake.valid_tokens = {"hf_other"}
    stack.wait_for_dag(DAG_ID)
    run_id = f"itest_401_{uuid.uuid4().hex[:8]}"

    stack.trigger(DAG_ID, run_id)
    run = stack.wait_for_run(DAG_ID, run_id)

    states = stack.task_states(DAG_ID, run_id)
    assert run["state"] == "failed", f"{states}\n{stack.diagnostics()}"
    assert states == {"httpRequest": "success", "summarize": "failed", "translate": "upstream_failed"}
    # A bad token is permanent: one request, no retries by the hook nor by Airflow.
    assert len(stack.fake.chat_requests) == 1
    log = stack.task_log(DAG_ID, run_id, "summarize", try_number=1)
    assert "Invalid API key" in log, log[-3000:]
    assert "InvalidTokenError" in log, log[-3000:]
    assert CONNECTION_TOKEN not in log
