"""A batch spread over Celery workers: the prompts split into shards, one mapped batch task per shard.

``scale_batch`` answers ``params.prompts`` prompts (``{"id": i}``, one call each) in ``params.shards``
shards; ``.expand()`` makes one ``HuggingFaceBatchChatOperator`` task instance per shard, and the
CeleryExecutor hands each to whichever worker has a free slot. Each shard appends its replies to its
own file under ``params.out`` (``scale_batch/<run_id>/shard/<map_index>.jsonl``), so a shard that
fails (its worker killed, say) is retried once, a second later, and resumes from that file.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.batch import HuggingFaceBatchChatOperator
from tests.scale.sharded import MAX_CONCURRENCY, SHARED_LIMIT_POOL


@task
def shards(params: dict | None = None) -> list[list[dict]]:
    """``params.prompts`` inputs cut into ``params.shards`` contiguous, nearly equal parts."""
    count, parts = int(params["prompts"]), int(params["shards"])
    bounds = [count * part // parts for part in range(parts + 1)]
    return [[{"id": i} for i in range(bounds[p], bounds[p + 1])] for p in range(parts)]


# scale_batch_pooled: the same, its shards in the pool SHARED_LIMIT_POOL (created by whoever runs it),
# whose slots bound how many shards call the server at once. scale_batch_paced: the same, free, each
# shard starting at most ``params.calls_per_second`` calls a second.
for dag_id, extra in (
    ("scale_batch", {}),
    ("scale_batch_pooled", {"pool": SHARED_LIMIT_POOL}),
    ("scale_batch_paced", {"max_calls_per_second": "{{ params.calls_per_second }}"}),
):
    with DAG(
        dag_id=dag_id,
        schedule=None,
        catchup=False,
        params={"prompts": 2000, "shards": 8, "out": "", "calls_per_second": 2.5},
        default_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
    ):
        HuggingFaceBatchChatOperator.partial(
            task_id="shard",
            hf_conn_id="hf_scale",
            user_prompt="prompt {{item.id}}",
            output_path="{{ params.out }}",
            max_concurrency=MAX_CONCURRENCY,
            **extra,
        ).expand(inputs=shards())
