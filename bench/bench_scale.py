"""Scale-out on Airflow's CeleryExecutor: two workers against one, and shards sharing one rate limit.

Starts the scale tier's cluster (``tests/scale/cluster.py``: PostgreSQL and Redis from the distribution's
packages, Airflow's API server, scheduler, DAG processor and triggerer, two Celery workers with 4 task
slots each) with the local fake in this process, and runs ``tests/scale/dags/scale_batch.py``: prompts
cut into shards, one mapped ``HuggingFaceBatchChatOperator`` task per shard, 4 calls in flight each.

- ``--prompts`` prompts (default 4,000) in 8 shards at 0.1 s latency, on both workers, then on one (the
  other stopped): throughput from the first shard's start to the last shard's end, and over the whole
  DAG run; goal: two workers give at least 1.8x the throughput of one;
- 4 shards on 2 workers against a fake that admits 10 calls a second: the share of that limit the
  answers used, and the share of calls answered 429; then the same with the shards in an Airflow pool
  of 2 slots, and of 1 (``scale_batch_pooled``), so that fewer of them call the server at once; then
  all at once again, each paced to a quarter of the limit (``scale_batch_paced``,
  ``max_calls_per_second=2.5``), and to 80% of that (2).

Needs Debian's ``postgresql`` and ``redis-server`` (``make scale-services``). About 5 minutes;
``--only shared-limit`` runs the second part alone.

Run: python bench/bench_scale.py [--prompts 4000] [--rate-prompts 300] [--only shared-limit|throughput]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import report

from tests.fakes.hf_api import FakeHF
from tests.scale.cluster import WORKERS, celery_cluster
from tests.scale.sharded import MAX_CONCURRENCY, SHARED_LIMIT_POOL, answer, run_sharded

LATENCY = 0.1
SHARDS = 8
RATE = 10
RATE_SHARDS = 4
GOAL = 1.8


def throughput(stack, prompts: int) -> tuple[float, float, set[str]]:
    """Prompts per second over the shards' span and over the whole run, and the workers that ran shards."""
    stack.fake.reset()
    stack.fake.reply = answer
    stack.fake.latency = LATENCY
    run = run_sharded(stack, prompts, SHARDS)
    if run.state != "success" or len(run.answered()) != prompts:
        raise SystemExit(f"run {run.run_id} ended {run.state} with {len(run.answered())} answers")
    return prompts / run.shard_seconds, prompts / run.seconds, {ti["hostname"] for ti in run.shards}


def shared_limit(
    stack, prompts: int, slots: int | None = None, paced: float | None = None
) -> list[tuple[str, str]]:
    """RATE_SHARDS shards against one limit of RATE calls/s: all at once, ``slots`` at a time (an Airflow
    pool), or all at once with each shard starting at most ``paced`` calls a second."""
    stack.fake.reset()
    stack.fake.reply = answer
    stack.fake.rate_limit = RATE
    if paced is not None:
        run = run_sharded(stack, prompts, RATE_SHARDS, dag_id="scale_batch_paced", calls_per_second=paced)
        how = f"all at once, max_calls_per_second={paced:g} each"
    else:
        run = run_sharded(
            stack, prompts, RATE_SHARDS, dag_id="scale_batch" if slots is None else "scale_batch_pooled"
        )
        how = "all at once" if slots is None else f"in a pool of {slots} slot{'s' * (slots > 1)}"
    if run.state != "success":
        raise SystemExit(f"run {run.run_id} ended {run.state}")
    figures = run.rate_figures(RATE)
    hosts = ", ".join(sorted(ti["hostname"] for ti in run.shards))
    return [
        (f"{RATE_SHARDS} shards {how} ({hosts}), one limit of {RATE} calls/s", f"{prompts} prompts"),
        ("  share of the limit used", f"{figures['limit_used']:.0%} over {figures['window_s']:.1f} s"),
        (
            "  calls answered 429",
            f"{figures['rejected_429']} of {figures['calls']} = {figures['share_429']:.0%}",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=4000)
    parser.add_argument("--rate-prompts", type=int, default=300)
    parser.add_argument("--only", choices=("shared-limit", "throughput"), help="run one part alone")
    args = parser.parse_args()
    slots = dict(WORKERS)
    rows: list[tuple[str, str]] = []
    with (
        FakeHF() as fake,
        tempfile.TemporaryDirectory(prefix="bench-scale-") as home,
        celery_cluster(fake, Path(home)) as stack,
    ):
        # Warm-up: the first task on each worker pays for imports the later ones share.
        throughput(stack, 16 * SHARDS)

        if args.only != "throughput":
            # The same shards free, then in a pool whose slots bound how many call the server at once,
            # then free but each paced to its share of the limit.
            for pool_slots in (None, 2, 1):
                if pool_slots is not None:
                    stack.api("/api/v2/pools", "POST", {"name": SHARED_LIMIT_POOL, "slots": pool_slots})
                rows += shared_limit(stack, args.rate_prompts, pool_slots)
                if pool_slots is not None:
                    stack.api(f"/api/v2/pools/{SHARED_LIMIT_POOL}", "DELETE")
            # Each shard's share of the limit, then 80% of it: a margin for shards out of phase.
            for share in (RATE / RATE_SHARDS, 0.8 * RATE / RATE_SHARDS):
                rows += shared_limit(stack, args.rate_prompts, paced=share)
        if args.only == "shared-limit":
            report("Shards sharing one rate limit on the CeleryExecutor (local fake)", rows)
            return

        two, two_run, hosts = throughput(stack, args.prompts)
        stack.stop_worker(WORKERS[1][0])
        one, one_run, one_hosts = throughput(stack, args.prompts)
    ideal = SHARDS * MAX_CONCURRENCY / LATENCY
    rows += [
        (
            f"{args.prompts} prompts, {SHARDS} shards x {MAX_CONCURRENCY} in flight, {LATENCY:.1f} s latency",
            f"ideal with every shard at once: {ideal:.0f}/s",
        ),
        (
            f"  2 workers x {slots[WORKERS[0][0]]} slots ({', '.join(sorted(hosts))})",
            f"{two:.0f} prompts/s over the shards, {two_run:.0f}/s over the DAG run",
        ),
        (
            f"  1 worker x {slots[WORKERS[0][0]]} slots ({', '.join(sorted(one_hosts))})",
            f"{one:.0f} prompts/s over the shards, {one_run:.0f}/s over the DAG run",
        ),
        ("  2 workers / 1 worker", f"{two / one:.2f}x over the shards, {two_run / one_run:.2f}x the run"),
        ("  goal", f">= {GOAL}x"),
    ]
    report("Scale-out on the CeleryExecutor (local fake)", rows)


if __name__ == "__main__":
    main()
