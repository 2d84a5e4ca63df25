"""The example DAG under Airflow's own scheduler, not only ``dag.test()``.

A real scheduler, DAG processor, triggerer and API server with the LocalExecutor (``airflow_stack`` in
tests/integration/plugin.py) run ``example_huggingface_chat`` from ``example_dags/`` against a fake HF
API. Everything is observed the way an operator of Airflow would: through the REST API.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_huggingface._internal import client_pool
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


MANY = "hf_many_deferred"


def test_a_hundred_deferred_chats_share_one_client_in_the_triggerer(scheduler_stack: AirflowStack) -> None:
    stack = scheduler_stack
    # With the tier's 4 worker slots, tasks defer about 4 at a time: a 5 s reply (the connection's
    # timeout is 10 s) keeps about ten waiting in the triggerer at once; 2 s would keep about 4, and
    # race Airflow's executor more often (see the DAG).
    stack.fake.latency = 5.0
    stack.wait_for_dag(MANY)
    triggerer_log = stack.log_path("triggerer")
    seen = triggerer_log.stat().st_size
    run_id = f"itest_many_{uuid.uuid4().hex[:8]}"

    stack.trigger(MANY, run_id, conf={"count": 100})
    run = stack.wait_for_run(MANY, run_id, timeout=600)

    listing = f"/api/v2/dags/{MANY}/dagRuns/{run_id}/taskInstances?limit=100&order_by=map_index&offset="
    instances = [ti for offset in (0, 100) for ti in stack.api(f"{listing}{offset}")["task_instances"]]
    chats = [ti for ti in instances if ti["task_id"] == "chat"]
    failed = [(ti["map_index"], ti["state"], ti["try_number"]) for ti in chats if ti["state"] != "success"]
    assert run["state"] == "success", (
        f"not successful: {failed}\n{failed and map_log(stack, run_id, failed[0])}"
    )
    assert sorted(ti["map_index"] for ti in chats if ti["state"] == "success") == list(range(100))
    # One call per task, and one more per try the executor race above cost (see the DAG's docstring).
    extra_tries = sum(ti["try_number"] - 1 for ti in chats)
    assert len(stack.fake.chat_requests) == 100 + extra_tries
    assert stack.xcom(MANY, run_id, "chat", map_index=7)["text"]
    # Every task waited in the triggerer, whose event loop was never blocked. Airflow's watchdog warns
    # from 0.2 s; on a loaded 2-core machine it reports 0.2-0.25 s with every trigger idle on its
    # socket (seen here with none running at all), so only a longer block counts as ours.
    with triggerer_log.open() as log:
        log.seek(seen)
        blocks = [float(s) for s in re.findall(r"blocked for ([0-9.]+) seconds", log.read())]
    assert all(block < 0.5 for block in blocks), blocks
    # The triggers shared one client: a client per trigger opens one connection per call. The shared
    # pool opens at most its limit (100) and reuses its connections; httpx closes a connection idle
    # for 5 s, so a trickle of tasks still opens some anew (44 for 101 calls in one run here).
    opened = stack.fake.connections_opened
    calls = len(stack.fake.chat_requests)
    at_once = stack.fake.max_in_flight
    print(f"\n[triggerer] {calls} deferred calls: {opened} TCP connections, at most {at_once} at once")
    assert opened <= min(client_pool.MAX_IN_FLIGHT, calls * 2 // 3), opened


def map_log(stack: AirflowStack, run_id: str, failed: tuple[int, str, int]) -> str:
    """The last lines of one mapped chat task's last try, and the processes' logs."""
    map_index, _, try_number = failed
    path = f"/api/v2/dags/{MANY}/dagRuns/{run_id}/taskInstances/chat/{map_index}/logs/{max(try_number, 1)}"
    try:
        content = stack.api(f"{path}?full_content=true")["content"]
    except AssertionError as exc:  # no log yet: the processes' logs still explain
        content = [str(exc)]
    lines = [e if isinstance(e, str) else str(e) for e in content]
    return "\n".join(lines[-30:]) + "\n" + stack.diagnostics()


DECORATED = "hf_deferred_decorated"


def stored_rendered_fields(stack: AirflowStack, run_id: str, task_id: str) -> dict[str, Any]:
    """The rendered template fields of a task instance, as the metadata DB holds them."""
    with sqlite3.connect(stack.home / "airflow.db") as db:
        rows = db.execute(
            "SELECT rendered_fields FROM rendered_task_instance_fields "
            "WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = -1",
            (DECORATED, run_id, task_id),
        ).fetchall()
    assert len(rows) == 1, rows
    return json.loads(rows[0][0])


def sent_prompt(stack: AirflowStack, prefix: str) -> str:
    """The last user message starting with ``prefix``: the same in every try (see the DAG's retries)."""
    sent = {
        r.body["messages"][-1]["content"]
        for r in stack.fake.chat_requests
        if r.body["messages"][-1]["content"].startswith(prefix)
    }
    assert len(sent) == 1, sent
    return sent.pop()


def test_deferred_decorated_tasks_store_the_prompt_they_sent(scheduler_stack: AirflowStack) -> None:
    stack = scheduler_stack
    # The branch asks for JSON naming its choice; the chat gets plain text.
    stack.fake.reply = lambda body: (
        json.dumps({"choice": "billing", "reason": "card"}) if body.get("response_format") else "ok"
    )
    stack.wait_for_dag(DECORATED)
    run_id = f"itest_decorated_{uuid.uuid4().hex[:8]}"

    stack.trigger(DECORATED, run_id, conf={"pasted": f"my token is {CONNECTION_TOKEN}"})
    run = stack.wait_for_run(DECORATED, run_id)

    states = stack.task_states(DECORATED, run_id)
    assert run["state"] == "success", f"{states}\n{stack.diagnostics()}"
    assert states == {
        "ticket": "success",
        "summarize": "success",
        "route": "success",
        "billing": "success",
        "bug": "skipped",
    }
    summarize = sent_prompt(stack, "Summarize:")
    route = sent_prompt(stack, "Route:")
    assert summarize == f"Summarize: My card was charged {{{{twice}}}} (my token is {CONNECTION_TOKEN})"
    assert route.startswith(f"Route: My card was charged {{{{twice}}}} (my token is {CONNECTION_TOKEN})\n\n")
    assert route.endswith("Options:\n- billing\n- bug")
    for task_id in ("summarize", "route"):
        log = stack.task_log(DECORATED, run_id, task_id, try_number=1)
        assert "Deferring chat to the triggerer" in log, log[-3000:]
    # What the UI's Rendered tab shows after the resumed run: the prompt as sent, the token masked.
    assert stored_rendered_fields(stack, run_id, "summarize")["user_prompt"] == summarize.replace(
        CONNECTION_TOKEN, "***"
    )
    assert stored_rendered_fields(stack, run_id, "route")["user_prompt"] == route.replace(
        CONNECTION_TOKEN, "***"
    )
