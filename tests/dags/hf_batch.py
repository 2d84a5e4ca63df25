"""HuggingFaceBatchChatOperator: inputs from an upstream task, per-item prompts, failure budgets."""

from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.batch import HuggingFaceBatchChatOperator

QUESTIONS = [{"q": "Nile"}, {"q": "Amazon"}, {"q": "Danube"}, {"q": "Mekong"}, {"q": "Volga"}]


@task
def items(dag_run=None) -> list:
    """The run's ``conf["items"]``, else QUESTIONS: each test picks its own inputs."""
    return (dag_run.conf or {}).get("items", QUESTIONS)


with DAG(dag_id="hf_batch", schedule=None, params={"tone": "briefly"}):

    @task
    def topic() -> dict:
        return {"name": "rivers"}

    batch = HuggingFaceBatchChatOperator(
        task_id="batch",
        hf_conn_id="hf_fake",
        inputs=items(),
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
    HuggingFaceBatchChatOperator(
        task_id="batch",
        hf_conn_id="hf_fake",
        inputs=items(),
        user_prompt="{{item}}",
        max_concurrency=2,
        max_failed_fraction=0.5,
    )


with DAG(dag_id="hf_batch_strict", schedule=None):
    HuggingFaceBatchChatOperator(
        task_id="batch",
        hf_conn_id="hf_fake",
        inputs=items(),
        user_prompt="Item {{item}}",
        max_concurrency=4,
    )


with DAG(dag_id="hf_batch_bad_template", schedule=None):
    HuggingFaceBatchChatOperator(
        task_id="batch",
        hf_conn_id="hf_fake",
        inputs=[{"q": "a"}, {"q": "b"}, {"x": "c"}],
        user_prompt="Q: {{item.q}}",
    )
