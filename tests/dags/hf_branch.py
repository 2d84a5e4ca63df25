"""HuggingFaceBranchOperator and @task.huggingface_branch in DAG runs against the fake."""

from __future__ import annotations

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.branch import HuggingFaceBranchOperator


def _teams(dag_id: str, **branch_kwargs) -> None:
    with DAG(dag_id=dag_id, schedule=None):
        route = HuggingFaceBranchOperator(
            task_id="route",
            hf_conn_id="hf_fake",
            system_prompt="You route support tickets.",
            **{"user_prompt": "Ticket: {{conf.ticket}}", **branch_kwargs},
        )
        teams = [EmptyOperator(task_id=name) for name in ("billing", "bug", "other")]
        after = EmptyOperator(task_id="after", trigger_rule="none_failed_min_one_success")
        route >> teams
        teams >> after


_teams("hf_branch")
_teams("hf_branch_multiple", allow_multiple=True)
_teams("hf_branch_default", default_choice="other")
_teams("hf_branch_default_deferred", default_choice="other", deferrable=True)
_teams("hf_branch_deferred", deferrable=True)
_teams(
    "hf_branch_described",
    choices={"billing": "payments, invoices, refunds", "bug": "crashes and errors"},
    messages=[
        {"role": "user", "content": "Ticket: refund please"},
        {"role": "assistant", "content": '{"choice": "billing", "reason": "a refund"}'},
    ],
)
_teams("hf_branch_bad_choices", choices=["billing", "nowhere"])
_teams(
    "hf_branch_conversation",
    user_prompt=None,
    messages=[
        {"role": "user", "content": "Ticket: refund please"},
        {"role": "assistant", "content": '{"choice": "billing", "reason": "a refund"}'},
        {"role": "user", "content": "Ticket: {{conf.ticket}}"},
    ],
)


with DAG(dag_id="hf_branch_decorated", schedule=None):

    @task
    def ticket() -> dict:
        return {"text": "My card was charged {{twice}}"}

    @task.huggingface_branch(hf_conn_id="hf_fake")
    def route(subject: dict, dag_run=None) -> str:
        pasted = (dag_run.conf or {}).get("ticket")
        return f"Ticket: {subject['text']}" + (f" ({pasted})" if pasted else "")

    teams = [EmptyOperator(task_id=name) for name in ("billing", "bug")]
    route(ticket()) >> teams
