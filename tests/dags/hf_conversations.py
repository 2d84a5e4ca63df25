"""Conversations (``messages``) and images in DAG runs against the fake."""

from __future__ import annotations

from airflow.sdk import DAG, ObjectStoragePath, task

from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

FEW_SHOT = [
    {"role": "user", "content": "Ticket: I was charged twice for {{params.month}}."},
    {"role": "assistant", "content": "Sorry about the double charge; a refund is on its way."},
    {"role": "user", "content": "Ticket: the app crashes."},
    {"role": "assistant", "content": "Thanks, we are looking into the crash."},
]

with DAG(dag_id="hf_messages", schedule=None, params={"month": "May"}):

    @task
    def ticket() -> dict:
        return {"text": "Where is my {{params.month}} invoice?"}

    @task
    def history() -> list[dict]:
        # Messages built at run time are data: the braces reach the model as they are.
        return [{"role": "user", "content": "Earlier: {{params.month}} and }} stay"}]

    few_shot = HuggingFaceChatOperator(
        task_id="few_shot",
        hf_conn_id="hf_fake",
        system_prompt="You answer support tickets for {{dag_id}}.",
        messages=FEW_SHOT,
        user_prompt="Ticket: {{ticket.text}}",
    )
    only_messages = HuggingFaceChatOperator(
        task_id="only_messages",
        hf_conn_id="hf_fake",
        messages=[*FEW_SHOT, {"role": "user", "content": "Ticket: {{ticket.text}}"}],
    )
    from_xcom = HuggingFaceChatOperator(task_id="from_xcom", hf_conn_id="hf_fake", messages=history())

    @task
    def conversations() -> list[list[dict]]:
        return [[{"role": "user", "content": "mapped {{params.month}}"}]]

    # Mapped over an upstream task's output: data. Mapped over a list written here: templates.
    HuggingFaceChatOperator.partial(task_id="mapped", hf_conn_id="hf_fake").expand(messages=conversations())
    HuggingFaceChatOperator.partial(task_id="mapped_literal", hf_conn_id="hf_fake").expand(
        messages=[[{"role": "user", "content": "literal {{params.month}}"}]]
    )
    subject = ticket()
    subject >> [few_shot, only_messages]

    @task.huggingface_chat(hf_conn_id="hf_fake", messages=FEW_SHOT[:2])
    def decorated(subject: dict) -> str:
        return f"Ticket: {subject['text']}"

    decorated(subject)


with DAG(dag_id="hf_messages_bad", schedule=None):
    for task_id, messages in (
        ("bad_role", [{"role": "tool", "content": "x"}]),
        ("empty", []),
        ("ends_with_assistant", [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]),
        ("not_a_list", "Hello"),
        ("bad_template", [{"role": "user", "content": "{{missing.path}}"}]),
    ):
        HuggingFaceChatOperator(task_id=task_id, hf_conn_id="hf_fake", messages=messages)


with DAG(dag_id="hf_images", schedule=None):

    @task
    def stored(dag_run=None) -> ObjectStoragePath:
        return ObjectStoragePath(f"file://{dag_run.conf['jpeg']}")

    HuggingFaceChatOperator(
        task_id="look",
        hf_conn_id="hf_fake",
        user_prompt="What is in these pictures?",
        images=["https://example.org/cat.png", "{{ dag_run.conf['png'] }}", stored()],
    )
    HuggingFaceChatOperator(
        task_id="too_big",
        hf_conn_id="hf_fake",
        user_prompt="Look",
        images="{{ dag_run.conf['png'] }}",
        max_image_bytes=16,
    )
    HuggingFaceChatOperator(
        task_id="not_an_image",
        hf_conn_id="hf_fake",
        user_prompt="Look",
        images="{{ dag_run.conf['text'] }}",
    )
    HuggingFaceChatOperator(
        task_id="deferred_look",
        hf_conn_id="hf_fake",
        user_prompt="Describe",
        images="{{ dag_run.conf['png'] }}",
        deferrable=True,
    )
