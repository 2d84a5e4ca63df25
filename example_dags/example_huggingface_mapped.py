"""Fan prompts out with dynamic task mapping: one chat task per question, then one list of answers."""

from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

with DAG(
    dag_id="example_huggingface_mapped",
    schedule=None,
    catchup=False,
    params={"topic": "data pipelines"},
    tags=["huggingface", "example"],
    doc_md=__doc__,
):

    @task
    def questions(params: dict | None = None) -> list[str]:
        topic = (params or {}).get("topic", "data pipelines")
        return [
            f"In one sentence, what is {topic}?",
            f"Name one common mistake people make with {topic}.",
            f"Give one tip to make {topic} more reliable.",
        ]

    answers = HuggingFaceChatOperator.partial(
        task_id="answer",
        system_prompt="You answer in one short sentence.",
        max_tokens=60,
    ).expand(user_prompt=questions())

    @task
    def collect(replies: list[dict]) -> list[str]:
        return [reply["text"] for reply in replies]

    collect(answers.output)
