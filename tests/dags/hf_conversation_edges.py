"""Conversations at their edges: a turn that is an upstream task's output, a last turn that renders
to blanks."""

from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.batch import HuggingFaceBatchChatOperator
from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

with DAG(dag_id="hf_messages_edges", schedule=None, params={"question": "   "}):

    @task
    def question() -> str:
        return "What is {{params.question}} made of?"  # data: its braces reach the model as they are

    HuggingFaceChatOperator(
        task_id="turn_from_upstream",
        hf_conn_id="hf_fake",
        system_prompt="You answer in {{dag_id}}.",
        messages=[{"role": "user", "content": question()}],
    )
    HuggingFaceChatOperator(
        task_id="blank_last_turn",
        hf_conn_id="hf_fake",
        messages=[{"role": "user", "content": "{{params.question}}"}],
        retries=0,
    )
    HuggingFaceBatchChatOperator(
        task_id="batch_turn_from_upstream",
        hf_conn_id="hf_fake",
        inputs=["x", "y"],
        messages=[{"role": "user", "content": question()}, {"role": "assistant", "content": "Ask on."}],
        user_prompt="And {{item}}?",
    )
