"""Dynamic task mapping over user prompts from an upstream task: data, sent as they are."""

from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

with DAG(dag_id="hf_mapped", schedule=None):

    @task
    def topic() -> dict:
        return {"name": "rivers"}

    @task
    def prompts() -> list[str]:
        return ["One: {{topic.name}}", "Two: {{topic.name}}", "Three: {{topic.name}}"]

    answers = HuggingFaceChatOperator.partial(task_id="answer", hf_conn_id="hf_fake").expand(
        user_prompt=prompts()
    )

    @task
    def collect(replies) -> list[str]:
        return [reply["text"] for reply in replies]

    topic() >> answers
    collect(answers.output)
