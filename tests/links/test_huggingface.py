"""HuggingFaceModelLink: the URL it builds, and what a real task run stores for the UI."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_huggingface.links.huggingface import HuggingFaceModelLink, model_page_url
from airflow_provider_huggingface.provider_info import get_provider_info

TOKEN = "hf_canarytokenforlinks00001"
LINK_XCOM = "_link_HuggingFaceModelLink"


@pytest.mark.parametrize(
    ("model", "endpoint", "url"),
    [
        ("Qwen/Qwen2.5-72B-Instruct", None, "https://huggingface.co/Qwen/Qwen2.5-72B-Instruct"),
        ("Qwen/Qwen2.5-72B-Instruct:fastest", None, "https://huggingface.co/Qwen/Qwen2.5-72B-Instruct"),
        ("gpt2", None, "https://huggingface.co/gpt2"),
        ("tgi", "https://xyz.endpoints.huggingface.cloud", "https://xyz.endpoints.huggingface.cloud"),
        (None, f"https://u:{TOKEN}@xyz.example.com:8443/v1?key={TOKEN}#f", "https://xyz.example.com:8443/v1"),
        ("http://127.0.0.1:8080/v1?key=secret", None, "http://127.0.0.1:8080/v1"),
        ("tgi", "127.0.0.1:8080", "https://127.0.0.1:8080"),
        (None, None, ""),
    ],
)
def test_model_page_url(model: str | None, endpoint: str | None, url: str) -> None:
    assert model_page_url(model, endpoint) == url


def test_the_hub_url_follows_hf_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "https://hub.example.com/")
    assert model_page_url("org/model") == "https://hub.example.com/org/model"


def test_registered_in_provider_info_and_seen_by_airflow() -> None:
    from airflow.providers_manager import ProvidersManager

    path = "airflow_provider_huggingface.links.huggingface.HuggingFaceModelLink"
    assert get_provider_info()["extra-links"] == [path]
    assert path in ProvidersManager().extra_links_class_names


def _xcoms(dag_run: Any, task_id: str) -> dict[str, Any]:
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == task_id]
    return {key: ti.xcom_pull(task_ids=task_id, key=key) for key in (HuggingFaceModelLink.key, LINK_XCOM)}


def test_a_task_run_stores_the_model_that_answered_and_its_link(dagbag, use_connection) -> None:
    use_connection("hf_links_router", password=TOKEN, extra={"provider": "together"})
    use_connection(
        "hf_links_endpoint", password=TOKEN, host=f"https://u:{TOKEN}@xyz.endpoints.huggingface.cloud"
    )
    dag_run = dagbag["hf_links"].test()
    router = _xcoms(dag_run, "router")
    assert router[HuggingFaceModelLink.key] == {
        "model": "Qwen/Qwen2.5-72B-Instruct:together",
        "endpoint": None,
    }
    # Airflow 3 asks the link on the worker when the task ends; the UI reads this XCom.
    assert router[LINK_XCOM] == "https://huggingface.co/Qwen/Qwen2.5-72B-Instruct"
    endpoint = _xcoms(dag_run, "endpoint")
    assert endpoint[HuggingFaceModelLink.key] == {
        "model": "tgi",
        "endpoint": "https://xyz.endpoints.huggingface.cloud",
    }
    assert endpoint[LINK_XCOM] == "https://xyz.endpoints.huggingface.cloud"
    # A failed task still shows where its calls went.
    assert (
        _xcoms(dag_run, "failing")[LINK_XCOM] == "https://huggingface.co/mistralai/Mistral-7B-Instruct-v0.3"
    )
    assert TOKEN not in repr([router, endpoint])
