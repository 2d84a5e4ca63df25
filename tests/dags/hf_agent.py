"""HuggingFaceAgentOperator and @task.huggingface_agent in DAG runs against the fake: an order desk.

The refund tool appends a line to the file named by ``HF_AGENT_SIDE_EFFECTS`` (when set), so tests can
count side effects across tries.
"""

from __future__ import annotations

import json
import os
from typing import Literal

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.agent import HuggingFaceAgentOperator
from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

ORDERS = {7: {"item": "Grinder", "total": 89.5, "status": "damaged"}, 8: {"item": "Kettle", "total": 39.9}}


def lookup_order(order_id: int) -> dict:
    """Look an order up by its number.

    :param order_id: the order's number.
    """
    if order_id not in ORDERS:
        raise KeyError(f"no order {order_id}")
    return {"order_id": order_id, **ORDERS[order_id]}


def refund(order_id: int, amount: float, reason: Literal["damaged", "late", "other"] = "other") -> str:
    """Refund an order. Irreversible.

    :param order_id: the order's number.
    :param amount: how much to refund.
    :param reason: why.
    """
    path = os.environ.get("HF_AGENT_SIDE_EFFECTS")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps({"order_id": order_id, "amount": amount}) + "\n")
    return f"Refunded {amount:.2f} for order {order_id} ({reason})."


TOOLS = [lookup_order, refund]


def desk(dag_id: str, **agent_args) -> None:
    with DAG(dag_id=dag_id, schedule=None, params={"ticket": "Order 7 arrived damaged."}):
        agent = HuggingFaceAgentOperator(
            task_id="agent",
            hf_conn_id="hf_fake",
            system_prompt="You are the order desk of {{dag_id}}.",
            user_prompt="{{params.ticket}}",
            tools=TOOLS,
            **agent_args,
        )
        reply = HuggingFaceChatOperator(
            task_id="reply", hf_conn_id="hf_fake", user_prompt="Write to the customer: {{agent.text}}"
        )
        agent >> reply


desk("hf_agent")
desk("hf_agent_deferred", deferrable=True)
desk("hf_agent_short", max_steps=2, retries=0)
desk("hf_agent_budget", max_calls=2, retries=0)
desk("hf_agent_tokens", max_total_tokens=30, retries=0)
desk("hf_agent_forced", tool_choice="lookup_order", max_steps=1, retries=0)


with DAG(dag_id="hf_agent_decorated", schedule=None):

    @task
    def ticket() -> dict:
        return {"order": 7, "text": "It came broken {{twice}}."}

    @task.huggingface_agent(hf_conn_id="hf_fake", tools=TOOLS)
    def handle(subject: dict) -> str:
        return f"Order {subject['order']}: {subject['text']}"

    handle(ticket())
