"""An agent for the crash test: its tool has a side effect, and its task process can be killed.

``ship`` appends a line to the file named by ``conf["effects"]`` each time it runs (the side effect a
retry must not repeat). The task process writes its pid where ``conf["pidfile"]`` says, so the test can
kill it with SIGKILL; one retry, at once, then replays the agent's journal from the task state store.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, get_current_context

from airflow_provider_huggingface.operators.agent import HuggingFaceAgentOperator


def record_pid(context) -> None:
    Path(context["dag_run"].conf["pidfile"]).write_text(str(os.getpid()))


def ship(parcel: int) -> str:
    """Ship a parcel. Irreversible.

    :param parcel: the parcel's number.
    """
    effects = get_current_context()["dag_run"].conf["effects"]
    with open(effects, "a") as out:
        out.write(json.dumps({"parcel": parcel, "pid": os.getpid()}) + "\n")
    return f"Parcel {parcel} shipped."


with DAG(dag_id="hf_agent_crash", schedule=None):
    HuggingFaceAgentOperator(
        task_id="agent",
        user_prompt="Ship parcels 1 to 4, one at a time.",
        tools=[ship],
        retries=1,
        retry_delay=timedelta(0),
        on_execute_callback=record_pid,
    )
