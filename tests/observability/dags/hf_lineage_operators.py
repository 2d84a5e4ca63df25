"""The provider's operators in one DAG whose OpenLineage events the lineage tests read back: a chat whose
model is retired (a fallback answers) over upstream data, a batch over a file into a folder, a deferred
chat whose model is retired too and that asks for its templates in the facet, an agent that calls a tool,
a chat on an endpoint, and a chat that fails before any call.
File locations come from the run's conf; the connections are the test's, on its fake."""

from __future__ import annotations

import os

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.agent import HuggingFaceAgentOperator
from airflow_provider_huggingface.operators.batch import HuggingFaceBatchChatOperator
from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

UPSTREAM_VARIABLE = "HF_LINEAGE_UPSTREAM"
ROUTER, ENDPOINT = "hf_lineage_ops", "hf_lineage_ops_endpoint"
RETIRED = "acme/retired-chat"
MISTRAL = "mistralai/Mistral-7B-Instruct-v0.3"
SYSTEM = "You are terse. SYSTEM-TEMPLATE-MARK"
USER = "Summarize {{fetch.text}} USER-TEMPLATE-MARK"
ITEM = "Summarize {{item.text}} ITEM-TEMPLATE-MARK"
AGENT_USER = "Handle: {{fetch.text}} AGENT-TEMPLATE-MARK"
MISSING = "Summarize {{fetch.nothing}} MISSING-TEMPLATE-MARK"


def lookup_order(order_id: int) -> dict:
    """Look an order up by its number.

    :param order_id: the order's number.
    """
    return {"order_id": order_id, "status": "damaged"}


with DAG(dag_id="hf_lineage_operators", schedule=None):

    @task
    def fetch() -> dict:
        """Upstream data (from the environment: a run's conf is in Airflow's own run facet): its text
        must reach no lineage event of ours."""
        return {"text": os.environ[UPSTREAM_VARIABLE]}

    data = fetch()
    data >> HuggingFaceChatOperator(
        task_id="chat",
        hf_conn_id=ROUTER,
        model=RETIRED,
        fallback_models=[MISTRAL],
        system_prompt=SYSTEM,
        user_prompt=USER,
        retries=0,
    )
    HuggingFaceBatchChatOperator(
        task_id="batch",
        hf_conn_id=ROUTER,
        model=MISTRAL,
        inputs="{{ dag_run.conf['input'] }}",
        output_path="{{ dag_run.conf['output'] }}",
        system_prompt=SYSTEM,
        user_prompt=ITEM,
        max_concurrency=2,
        retries=0,
    )
    data >> HuggingFaceChatOperator(
        task_id="deferred",
        hf_conn_id=ROUTER,
        model=RETIRED,
        fallback_models=[MISTRAL],
        system_prompt=SYSTEM,
        user_prompt=USER,
        deferrable=True,
        lineage_prompt_text=True,
        retries=0,
    )
    data >> HuggingFaceAgentOperator(
        task_id="agent",
        hf_conn_id=ROUTER,
        model=MISTRAL,
        user_prompt=AGENT_USER,
        tools=[lookup_order],
        retries=0,
    )
    data >> HuggingFaceChatOperator(task_id="endpoint", hf_conn_id=ENDPOINT, user_prompt=USER, retries=0)
    # Fails before any call: its prompt names what the upstream data does not have.
    data >> HuggingFaceChatOperator(
        task_id="unfilled", hf_conn_id=ROUTER, model=MISTRAL, user_prompt=MISSING, retries=0
    )
