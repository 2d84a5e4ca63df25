"""A support agent: it looks the order up in a SQLite table, computes the refund, and refunds only
once a person approved it.

The model gets three tools: a read-only SQL tool over the ``orders_db`` connection (statements other
than one SELECT are refused, rows capped), ``compute_refund`` (plain Python) and ``issue_refund``
(it writes to the ``refunds`` table: a side effect). ``require_approval=["issue_refund"]`` makes each
refund wait for a person in the Airflow UI's required actions (Airflow 3.1+; no worker slot is held
while it waits). They approve, reject (the model is told, with their comment) or edit the amount.
A retry never pays again for a finished model turn nor runs a finished tool again (Airflow 3.3's task
state store keeps the agent's journal).

Set the ``orders_db`` connection to a SQLite file, e.g.
``AIRFLOW_CONN_ORDERS_DB='{"conn_type": "sqlite", "host": "/tmp/orders.db"}'``; ``prepare_orders``
creates and fills its tables. Trigger with ``{"ticket": "..."}`` for a ticket of your own. The model
must serve tool calling (the default one does on the router; llama.cpp needs ``--jinja``).
"""

from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_provider_huggingface.agents.sql import sql_tool
from airflow_provider_huggingface.operators.agent import HuggingFaceAgentOperator

ORDERS_DB = "orders_db"
ORDERS = [
    (1001, "ada@example.com", "Espresso machine", 249.0, "delivered"),
    (1002, "ada@example.com", "Grinder", 89.5, "delivered, damaged"),
    (1003, "alan@example.com", "Kettle", 39.9, "in transit"),
]


def compute_refund(order_total: float, percent: int) -> float:
    """Compute the amount to refund for an order.

    :param order_total: the order's total, as the orders table gives it.
    :param percent: the share to refund, from 0 to 100 (100 for an order that cannot be used).
    """
    if not 0 <= percent <= 100:
        raise ValueError("percent must be from 0 to 100")
    return round(order_total * percent / 100, 2)


def issue_refund(order_id: int, amount: float) -> str:
    """Refund an order to the customer. Irreversible: only after the order was looked up.

    :param order_id: the order to refund.
    :param amount: the amount to refund, at most the order's total.
    """
    from airflow.providers.sqlite.hooks.sqlite import SqliteHook

    hook = SqliteHook(sqlite_conn_id=ORDERS_DB)
    hook.run("INSERT INTO refunds (order_id, amount) VALUES (?, ?)", parameters=(order_id, amount))
    return f"Refunded {amount:.2f} for order {order_id}."


with DAG(
    dag_id="example_huggingface_agent",
    schedule=None,
    catchup=False,
    params={"ticket": "Order 1002 arrived damaged: the grinder's lid is cracked. Can I get my money back?"},
    tags=["huggingface", "example"],
):

    @task
    def prepare_orders() -> int:
        """Create the orders and refunds tables (once) and return how many orders there are."""
        from airflow.providers.sqlite.hooks.sqlite import SqliteHook

        hook = SqliteHook(sqlite_conn_id=ORDERS_DB)
        hook.run(
            [
                "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, customer TEXT, item TEXT, "
                "total REAL, status TEXT)",
                "CREATE TABLE IF NOT EXISTS refunds (order_id INTEGER, amount REAL)",
            ]
        )
        hook.insert_rows(
            "orders", ORDERS, target_fields=["id", "customer", "item", "total", "status"], replace=True
        )
        return len(ORDERS)

    agent = HuggingFaceAgentOperator(
        task_id="support_agent",
        system_prompt=(
            "You are a support agent. Look the order up before anything else. Refund damaged orders in "
            "full; never refund more than the order's total. Then answer the customer in two sentences."
        ),
        user_prompt="{{params.ticket}}",
        tools=[
            sql_tool(conn_id=ORDERS_DB, tables=["orders"], max_rows=20),
            compute_refund,
            issue_refund,
        ],
        require_approval=["issue_refund"],
        max_steps=8,
        max_tokens=300,
    )
    prepare_orders() >> agent
