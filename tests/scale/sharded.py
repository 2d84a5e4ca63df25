"""Run ``scale_batch`` (prompts in shards, a mapped batch task each) on a ``CeleryStack`` and measure it.

Shared by the scale tier's tests and ``bench/bench_scale.py``.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from tests.fakes.hf_api import Recorded
    from tests.scale.cluster import CeleryStack

DAG_ID = "scale_batch"
# Calls in flight per shard of scale_batch: with eight shards on two workers, 32 at once.
MAX_CONCURRENCY = 4
TASK_ID = "shard"
# The pool of scale_batch_pooled's shards.
SHARED_LIMIT_POOL = "hf_shared_limit"


def answer(body: dict[str, Any]) -> str:
    """The fake's reply: the prompt it answers, so a reply names its input."""
    return f"reply to {body['messages'][-1]['content']}"


def prompt_of(request: Recorded) -> str:
    return request.body["messages"][-1]["content"]


@dataclass
class ShardedRun:
    """A finished run of ``scale_batch``: its state, its shards' task instances, the fake's requests."""

    dag_id: str
    run_id: str
    #: The folder the shards write their files of replies in.
    out: Path
    #: How many requests the fake had seen before the run: the run's are those after.
    first_request: int
    started: float
    state: str = "queued"
    shards: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def shard_seconds(self) -> float:
        """From the first shard's start to the last one's end: the batch itself, no scheduling before it."""
        starts = [_time(ti["start_date"]) for ti in self.shards]
        ends = [_time(ti["end_date"]) for ti in self.shards]
        return (max(ends) - min(starts)).total_seconds()

    def answered(self) -> list[Recorded]:
        return [r for r in self.requests if r.status == 200]

    def shard_file(self, map_index: int) -> Path:
        """Where shard ``map_index`` appends its replies (the batch operator's layout)."""
        return self.out / self.dag_id / self.run_id / TASK_ID / f"{map_index}.jsonl"

    def replies(self) -> list[dict[str, Any]]:
        """Every line of every shard's file, shard by shard."""
        return [
            json.loads(line)
            for ti in self.shards
            for line in self.shard_file(ti["map_index"]).read_text().splitlines()
        ]

    def rate_figures(self, limit: float) -> dict[str, float]:
        """Against a server limit of ``limit`` calls a second: the share of it the answers used (over the
        time from the first call to the last) and the share of calls answered 429."""
        times = [r.time for r in self.requests]
        window = max(times) - min(times)
        answered = len(self.answered())
        rejected = sum(r.status == 429 for r in self.requests)
        return {
            "calls": len(self.requests),
            "answered": answered,
            "rejected_429": rejected,
            "window_s": window,
            "limit_used": answered / (window * limit) if window else 0.0,
            "share_429": rejected / len(self.requests) if self.requests else 0.0,
        }


def start_sharded(
    stack: CeleryStack, prompts: int, shards: int, dag_id: str = DAG_ID, **params: Any
) -> ShardedRun:
    """Trigger ``dag_id``: ``prompts`` prompts in ``shards`` shards, replies under the stack's home;
    ``params`` are further params of the run (``calls_per_second`` of ``scale_batch_paced``)."""
    stack.wait_for_dag(dag_id)
    run = ShardedRun(
        dag_id=dag_id,
        run_id=f"scale_{prompts}x{shards}_{uuid.uuid4().hex[:8]}",
        out=stack.home / "replies",
        first_request=len(stack.fake.requests),
        started=time.monotonic(),
    )
    conf = {"prompts": prompts, "shards": shards, "out": run.out.as_uri(), **params}
    stack.trigger(dag_id, run.run_id, conf=conf)
    return run


def finish_sharded(stack: CeleryStack, run: ShardedRun, timeout: float = 300.0) -> ShardedRun:
    """Wait for the run to end; fill in its state, shards, requests and duration."""
    run.state = stack.wait_for_run(run.dag_id, run.run_id, timeout=timeout)["state"]
    run.seconds = time.monotonic() - run.started
    instances = stack.task_instances(run.dag_id, run.run_id, TASK_ID)
    run.shards = sorted(instances, key=lambda ti: ti["map_index"])
    run.requests = [r for r in stack.fake.requests[run.first_request :] if r.is_chat]
    return run


def run_sharded(
    stack: CeleryStack,
    prompts: int,
    shards: int,
    dag_id: str = DAG_ID,
    timeout: float = 300.0,
    **params: Any,
) -> ShardedRun:
    """Run ``dag_id`` (``scale_batch``, ``scale_batch_pooled`` or ``scale_batch_paced``) to its end."""
    return finish_sharded(stack, start_sharded(stack, prompts, shards, dag_id, **params), timeout)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
