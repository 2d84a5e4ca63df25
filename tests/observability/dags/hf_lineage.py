"""The probe operator in three tasks whose OpenLineage events the lineage tests read back: a batch over
files through the router with a fallback, a call to an endpoint whose templates go into the facet on
request, and a task that fails after its calls. File paths come from the run's conf."""

from __future__ import annotations

from airflow.sdk import DAG

from tests.observability.probe import LineageProbeOperator

SYSTEM = "You are terse. SYSTEM-TEMPLATE-MARK"
USER = "Summarize {{row.text}} USER-TEMPLATE-MARK"

with DAG(dag_id="hf_lineage", schedule=None):
    LineageProbeOperator(
        task_id="batch",
        hf_conn_id="hf_lineage_router",
        model="meta-llama/Llama-3.1-8B-Instruct",
        answered_by="Qwen/Qwen2.5-72B-Instruct",
        system_prompt=SYSTEM,
        user_prompt=USER,
        input_path="{{ dag_run.conf['input'] }}",
        output_path="{{ dag_run.conf['output'] }}",
    )
    LineageProbeOperator(
        task_id="endpoint",
        hf_conn_id="hf_lineage_endpoint",
        model="tgi",
        user_prompt=USER,
        include_prompt_text=True,
    )
    LineageProbeOperator(
        task_id="failing",
        hf_conn_id="hf_lineage_router",
        model="mistralai/Mistral-7B-Instruct-v0.3",
        user_prompt=USER,
        fail=True,
        retries=0,
    )
