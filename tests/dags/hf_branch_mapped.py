"""HuggingFaceBranchOperator under dynamic task mapping: .expand(), and inside a mapped task group."""

from __future__ import annotations

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, task, task_group

from airflow_provider_huggingface.operators.branch import HuggingFaceBranchOperator

TICKETS = ["Ticket: refund my card", "Ticket: the app crashes", "Ticket: refund twice"]


@task
def tickets() -> list[str]:
    return TICKETS


@task
def billing(ticket: str) -> str:
    return f"billing: {ticket}"


@task
def bug(ticket: str) -> str:
    return f"bug: {ticket}"


with DAG(dag_id="hf_branch_expand", schedule=None):
    # The branch and the tasks it chooses from, mapped over the same list: index i skips its own.
    listed = tickets()
    route = HuggingFaceBranchOperator.partial(task_id="route", hf_conn_id="hf_fake").expand(
        user_prompt=listed
    )
    route >> [billing.expand(ticket=listed), bug.expand(ticket=listed)]


with DAG(dag_id="hf_branch_expand_unmapped", schedule=None):
    route = HuggingFaceBranchOperator.partial(task_id="route", hf_conn_id="hf_fake").expand(
        user_prompt=tickets()
    )
    route >> [EmptyOperator(task_id="billing"), EmptyOperator(task_id="bug")]


with DAG(dag_id="hf_branch_mapped_group", schedule=None):

    @task_group
    def handle(ticket: str):
        route = HuggingFaceBranchOperator(task_id="route", hf_conn_id="hf_fake", user_prompt=ticket)
        route >> [EmptyOperator(task_id="billing"), EmptyOperator(task_id="bug")]

    handle.expand(ticket=tickets())
