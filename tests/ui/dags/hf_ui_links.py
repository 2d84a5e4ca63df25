"""The probe operator with HuggingFaceModelLink, and a second link registered nowhere (neither in provider
info nor in a plugin), for the browser tier: both must show on the task's page."""

from __future__ import annotations

from airflow.sdk import DAG, BaseOperatorLink

from airflow_provider_huggingface.links.huggingface import HuggingFaceModelLink
from tests.observability.probe import LineageProbeOperator

UNREGISTERED_URL = "https://example.com/unregistered-link"


class UnregisteredLink(BaseOperatorLink):
    name = "Unregistered"

    def get_link(self, operator, *, ti_key):  # type: ignore[no-untyped-def]
        return UNREGISTERED_URL


class ProbeWithTwoLinks(LineageProbeOperator):
    operator_extra_links = (HuggingFaceModelLink(), UnregisteredLink())


with DAG(dag_id="hf_ui_links", schedule=None):
    ProbeWithTwoLinks(
        task_id="summarize",
        hf_conn_id="hf_ui_links",
        model="meta-llama/Llama-3.1-8B-Instruct",
        answered_by="Qwen/Qwen2.5-72B-Instruct",
        user_prompt="Hello",
    )
