"""The seed DAG and sharded batches on the CeleryExecutor with two workers (``celery_stack``).

Everything is observed the way an operator of Airflow would: through the REST API, plus the fake's own
request log.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from tests.integration.test_scheduler import chat_request, reply_to
from tests.scale.cluster import CONNECTION_TOKEN, WORKERS
from tests.scale.sharded import DAG_ID, TASK_ID, answer, prompt_of, run_sharded

if TYPE_CHECKING:
    from tests.scale.cluster import CeleryStack

pytestmark = pytest.mark.scale

WORKER_NAMES = {name for name, _ in WORKERS}


@pytest.mark.parametrize(
    ("dag_id", "deferred"),
    [("example_huggingface_chat", False), ("example_huggingface_chat_deferred", True)],
)
def test_seed_dag_runs_on_celery_workers(scale_stack: CeleryStack, dag_id: str, deferred: bool) -> None:
    stack = scale_stack
    stack.fake.reply = reply_to
    stack.wait_for_dag(dag_id)
    run_id = f"scale_seed_{uuid.uuid4().hex[:8]}"

    stack.trigger(dag_id, run_id, conf={"language": "German"})
    run = stack.wait_for_run(dag_id, run_id)

    instances = {ti["task_id"]: ti for ti in stack.task_instances(dag_id, run_id)}
    states = {task_id: ti["state"] for task_id, ti in instances.items()}
    assert run["state"] == "success", f"{states}\n{stack.diagnostics()}"
    assert states == {"httpRequest": "success", "summarize": "success", "translate": "success"}
    # Celery workers ran every task: each records its worker's name as the hostname.
    assert {ti["hostname"] for ti in instances.values()} <= WORKER_NAMES, instances
    summarize = stack.xcom(dag_id, run_id, "summarize")
    translate = stack.xcom(dag_id, run_id, "translate")
    assert summarize["text"] == reply_to(chat_request(stack, "Summarize this text"))
    translate_body = chat_request(stack, "Translate into German")
    assert translate["text"] == reply_to(translate_body)
    assert translate_body["messages"][-1]["content"] == f"Translate into German: {summarize['text']}"
    assert {r.token for r in stack.fake.chat_requests} == {CONNECTION_TOKEN}
    for task_id in ("summarize", "translate"):
        log = stack.task_log(dag_id, run_id, task_id)
        # Deferred: the worker only checked the request; the triggerer made the call.
        assert ("Deferring chat to the triggerer" in log) is deferred, log[-3000:]


def test_sharded_batch_spreads_over_both_workers(scale_stack: CeleryStack) -> None:
    stack = scale_stack
    stack.fake.reply = answer
    stack.fake.latency = 0.1

    run = run_sharded(stack, prompts=2000, shards=8)

    shards = [(ti["map_index"], ti["state"], ti["hostname"]) for ti in run.shards]
    assert run.state == "success", f"{shards}\n{stack.diagnostics()}"
    assert [ti["map_index"] for ti in run.shards] == list(range(8))
    # Both workers took shards: Celery spread the mapped task instances.
    assert {ti["hostname"] for ti in run.shards} == WORKER_NAMES, shards
    replies = run.replies()
    # Every reply is in the shards' files exactly once, and the fake saw each prompt once.
    assert sorted(line["input"]["id"] for line in replies) == list(range(2000))
    assert all(line["text"] == f"reply to prompt {line['input']['id']}" for line in replies)
    assert sorted(map(prompt_of, run.requests)) == sorted(f"prompt {i}" for i in range(2000))
    summaries = [stack.xcom(DAG_ID, run.run_id, TASK_ID, map_index=ti["map_index"]) for ti in run.shards]
    # The XCom stays small: counts and the file, not the replies.
    assert [(x["succeeded"], x["failed"], x["reused"]) for x in summaries] == [(250, 0, 0)] * 8
    assert all("results" not in x for x in summaries)


def test_shards_on_two_workers_share_one_rate_limit(scale_stack: CeleryStack) -> None:
    """4 shards on 2 workers against a server that admits 10 calls a second: every prompt is answered
    once, however many 429s it took; the share of the limit used and of calls refused are printed
    (``bench/bench_scale.py`` reports them too)."""
    stack = scale_stack
    stack.fake.reply = answer
    stack.fake.rate_limit = 10

    run = run_sharded(stack, prompts=160, shards=4)

    shards = [(ti["map_index"], ti["state"], ti["hostname"]) for ti in run.shards]
    assert run.state == "success", f"{shards}\n{stack.diagnostics()}"
    # Usually two shards on each worker; Celery does not promise it (one worker has slots for all four).
    hosts = sorted(ti["hostname"] for ti in run.shards)
    assert set(hosts) <= WORKER_NAMES, shards
    assert sorted(map(prompt_of, run.answered())) == sorted(f"prompt {i}" for i in range(160))
    figures = run.rate_figures(limit=10)
    assert figures["rejected_429"] == len(run.requests) - 160, figures
    print(
        f"\nshared rate limit: 4 shards on {hosts}, 10 calls/s: {figures['answered']} answers in "
        f"{figures['window_s']:.1f} s = {figures['limit_used']:.0%} of the limit; "
        f"{figures['rejected_429']} of {figures['calls']} calls answered 429 ({figures['share_429']:.0%})"
    )
