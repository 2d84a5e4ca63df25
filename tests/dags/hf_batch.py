"""HuggingFaceBatchChatOperator: inputs from an upstream task or a file, per-item prompts, failure
budgets, call budgets, and a file of replies that a retry resumes from.

Runs that write files name their folders in ``conf``: ``out`` (output_path) and, for ``hf_batch_file``,
``inputs`` (a JSON Lines or CSV file).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.batch import HuggingFaceBatchChatOperator

QUESTIONS = [{"q": "Nile"}, {"q": "Amazon"}, {"q": "Danube"}, {"q": "Mekong"}, {"q": "Volga"}]


@task
def items(dag_run=None) -> list:
    """The run's ``conf["items"]``, else QUESTIONS: each test picks its own inputs."""
    return (dag_run.conf or {}).get("items", QUESTIONS)


def batch_task(**kwargs) -> HuggingFaceBatchChatOperator:
    """The batch task of a DAG below: on the fake's connection, over ``items()`` unless told otherwise."""
    kwargs.setdefault("inputs", items())
    return HuggingFaceBatchChatOperator(task_id="batch", hf_conn_id="hf_fake", **kwargs)


with DAG(dag_id="hf_batch", schedule=None, params={"tone": "briefly"}):

    @task
    def topic() -> dict:
        return {"name": "rivers"}

    batch = batch_task(
        system_prompt="Answer {{params.tone}}.",
        user_prompt="{{item.q}}: tell me about {{topic.name}} ({{task_id}})",
        max_concurrency=4,
    )
    batch.progress_interval = 0.05  # a progress line even in a short test run

    @task
    def texts(summary: dict) -> list:
        return [result.get("text") for result in summary["results"]]

    topic() >> batch
    texts(batch.output)


with DAG(dag_id="hf_batch_tolerant", schedule=None):
    batch_task(
        user_prompt="{{item}}",
        max_concurrency=2,
        max_failed_fraction=0.5,
    )


with DAG(dag_id="hf_batch_strict", schedule=None):
    batch_task(
        user_prompt="Item {{item}}",
        max_concurrency=4,
    )


with DAG(dag_id="hf_batch_paced", schedule=None, params={"calls_per_second": 15}):
    # hf_batch_strict, its calls paced; the rate is templated, so a run's params may change it.
    batch_task(
        user_prompt="Item {{item}}",
        max_concurrency=4,
        max_calls_per_second="{{ params.calls_per_second }}",
    )


with DAG(dag_id="hf_batch_bad_template", schedule=None):
    batch_task(
        inputs=[{"q": "a"}, {"q": "b"}, {"x": "c"}],
        user_prompt="Q: {{item.q}}",
    )


with DAG(dag_id="hf_batch_durable", schedule=None):
    # One Airflow retry at once: the second try resumes from the first one's file.
    batch_task(
        user_prompt="{{item}}",
        output_path="{{ dag_run.conf['out'] }}",
        max_concurrency=4,
        retries=1,
        retry_delay=timedelta(0),
    )


with DAG(dag_id="hf_batch_file", schedule=None):
    batch_task(
        inputs="{{ dag_run.conf['inputs'] }}",
        user_prompt="{{item.q}}",
        output_path="{{ dag_run.conf['out'] }}",
        max_concurrency=4,
    )


with DAG(dag_id="hf_batch_budget", schedule=None):
    batch_task(
        user_prompt="{{item}}",
        max_concurrency=2,
        max_calls=5,
    )


with DAG(dag_id="hf_batch_serial", schedule=None):
    # One call at a time, so which items were answered before the stop is known in advance.
    batch_task(
        user_prompt="{{item}}",
        max_concurrency=1,
        max_failed_fraction=0.05,
    )


with DAG(dag_id="hf_batch_retried", schedule=None):
    # No output_path: on Airflow 3.3+ the task state store keeps the replies for the retry.
    batch_task(user_prompt="{{item}}", max_concurrency=1, retries=1, retry_delay=timedelta(0))
