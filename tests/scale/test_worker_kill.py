"""A Celery worker killed with SIGKILL while its shard is half done: the shard is retried and resumes.

Nothing tells Airflow that the worker died: its task instances stop heartbeating, the scheduler fails
them after ``[scheduler] task_instance_heartbeat_timeout`` (15 s here) and retries them (``retries=1``),
on whichever worker takes the task. The retry reads the shard's file of replies back and sends only
what it lacks, so the fake's request log shows a prompt answered twice only when its call was in
flight at the kill: at most ``max_concurrency`` per killed shard.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING

import pytest

from tests.scale.cluster import WORKERS
from tests.scale.sharded import (
    DAG_ID,
    MAX_CONCURRENCY,
    TASK_ID,
    answer,
    finish_sharded,
    prompt_of,
    start_sharded,
)

if TYPE_CHECKING:
    from tests.scale.cluster import CeleryStack
    from tests.scale.sharded import ShardedRun

pytestmark = pytest.mark.scale

PROMPTS = 800
SHARDS = 2
PER_SHARD = PROMPTS // SHARDS  # 400 calls, 4 at a time, 0.1 s each: about 10 s a shard


def running_shard(stack: CeleryStack, run: ShardedRun, map_index: int, timeout: float = 120.0) -> dict:
    """The shard's task instance once a worker runs it (its hostname then names the worker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ti in stack.task_instances(DAG_ID, run.run_id, TASK_ID):
            if ti["map_index"] == map_index and ti["state"] == "running" and ti["hostname"]:
                return ti
        time.sleep(0.2)
    raise AssertionError(f"shard {map_index} did not start within {timeout:.0f} s\n{stack.diagnostics()}")


def wait_for_lines(run: ShardedRun, map_index: int, count: int, timeout: float = 120.0) -> None:
    """Until the shard's file holds ``count`` replies."""
    path = run.shard_file(map_index)
    deadline = time.monotonic() + timeout
    while not path.exists() or len(path.read_bytes().splitlines()) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not reach {count} lines within {timeout:.0f} s")
        time.sleep(0.05)


def test_a_shard_whose_worker_is_killed_resumes_on_a_retry(scale_stack: CeleryStack) -> None:
    stack = scale_stack
    stack.fake.reply = answer
    stack.fake.latency = 0.1
    run = start_sharded(stack, PROMPTS, SHARDS)
    victim = running_shard(stack, run, 0)["hostname"]
    wait_for_lines(run, 0, PER_SHARD // 2)

    stack.kill_worker(victim)
    killed_at = time.monotonic()
    # As a supervisor would, bring the worker back: the retry may land on either worker.
    stack.start_worker(victim, dict(WORKERS)[victim])
    stack.wait_for_workers()
    finish_sharded(stack, run, timeout=240)

    shards = [(ti["map_index"], ti["state"], ti["try_number"], ti["hostname"]) for ti in run.shards]
    assert run.state == "success", f"{shards}\n{stack.diagnostics()}"
    # Every shard the kill hit failed its first try on the killed worker and succeeded on its second.
    killed = [ti["map_index"] for ti in run.shards if ti["try_number"] == 2]
    assert 0 in killed, shards
    for map_index in killed:
        tries = {t["try_number"]: t for t in stack.tries(DAG_ID, run.run_id, TASK_ID, map_index)}
        assert (tries[1]["hostname"], tries[1]["state"]) == (victim, "failed"), tries
        assert tries[2]["state"] == "success", tries
        log = stack.task_log(DAG_ID, run.run_id, TASK_ID, try_number=2, map_index=map_index)
        assert "items were answered by an earlier try" in log, log[-3000:]

    # Each prompt answered; twice only if its call was in flight when the worker died.
    answered = Counter(map(prompt_of, run.answered()))
    assert set(answered) == {f"prompt {i}" for i in range(PROMPTS)}
    twice = {prompt for prompt, n in answered.items() if n > 1}
    assert len(twice) <= MAX_CONCURRENCY * len(killed), sorted(twice)
    assert set(answered.values()) <= {1, 2}
    first_asked = {}
    # A request the kill cut off mid-body reached the fake without one: it asked nothing.
    for request in (r for r in run.requests if isinstance(r.body, dict)):
        first_asked.setdefault(prompt_of(request), request.time)
    # The fake notes a request when its thread gets to it, which on a busy machine can be a moment after
    # the sender died; the retry cannot start before the heartbeat timeout (15 s), so a second is safe.
    assert all(first_asked[prompt] < killed_at + 1.0 for prompt in twice), sorted(twice)

    # The shards' files hold every reply exactly once, and the retries reused what was answered.
    replies = run.replies()
    assert sorted(line["input"]["id"] for line in replies) == list(range(PROMPTS))
    assert all(line["text"] == f"reply to prompt {line['input']['id']}" for line in replies)
    reused = {
        map_index: stack.xcom(DAG_ID, run.run_id, TASK_ID, map_index=map_index)["reused"]
        for map_index in killed
    }
    assert reused[0] >= PER_SHARD // 2, reused
    print(
        f"\nworker kill: {victim} killed with shard 0 at {PER_SHARD // 2}/{PER_SHARD} answered; "
        f"shards retried: {killed}; "
        f"answers reused by the retries: {reused}; prompts answered twice: {len(twice)} "
        f"(in-flight window {MAX_CONCURRENCY} per killed shard); kill to end of run: "
        f"{time.monotonic() - killed_at:.0f} s"
    )
