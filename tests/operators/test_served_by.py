"""Where each reply came from: the inference provider the router names (``x-inference-provider``) in
the XCom and the log of real DAG runs (``dag.test()``) through the router, in the worker, in the
triggerer and in a batch; and no provider at all from a server reached directly (an endpoint)."""

from __future__ import annotations

import pytest

from tests.airflow_internals import task_log

TOKEN = "hf_servedbytestcanary00001"
MODEL = "mistralai/Mistral-7B-Instruct-v0.3"
SERVED_BY = "together"


def _reply(body: dict) -> str:
    return '{"city": "Paris"}' if body.get("response_format") else "Paris is lovely."


@pytest.fixture
def router_conn(hub_redirect, use_connection):
    """``hf_fake`` on the router (``provider`` auto), whose answers say ``together`` served them."""
    use_connection("hf_fake", password=TOKEN, extra={"max_retries": 2, "default_model": MODEL})
    hub_redirect.served_by = SERVED_BY
    hub_redirect.reply = _reply
    return hub_redirect


@pytest.fixture
def endpoint_conn(fake_hf, use_connection):
    """``hf_fake`` on the fake as an endpoint: ``served_by`` is set, yet an endpoint never names one."""
    use_connection("hf_fake", host=fake_hf.url, password=TOKEN, extra={"max_retries": 2})
    fake_hf.served_by = SERVED_BY
    fake_hf.reply = _reply
    return fake_hf


def test_the_chat_xcom_and_log_name_the_provider_that_served(router_conn, run_dag, capsys, caplog):
    run = run_dag("hf_deferrable_sync")
    assert run.state == "success", run.states
    for task_id in ("chat", "structured"):
        assert run.xcom[task_id]["provider"] == SERVED_BY
        assert run.xcom[task_id]["model"] == MODEL
    log = task_log(capsys, caplog)
    assert f"-> {MODEL}, served by {SERVED_BY}, finish_reason=" in log
    assert len(router_conn.chat_requests) == 2


def test_a_deferred_chat_carries_the_provider_from_the_triggerer(router_conn, run_dag, capsys, caplog):
    run = run_dag("hf_deferrable")
    assert run.state == "success", run.states
    # The trigger's client comes from the event loop's client pool: it notes the header as well.
    for task_id in ("chat", "structured"):
        assert run.xcom[task_id]["provider"] == SERVED_BY
    assert f"served by {SERVED_BY}" in task_log(capsys, caplog)


def test_each_batch_result_names_the_provider_that_served_it(router_conn, run_dag):
    run = run_dag("hf_batch")
    assert run.state == "success", run.states
    results = run.xcom["batch"]["results"]
    assert len(results) == 5
    assert [result["provider"] for result in results] == [SERVED_BY] * 5


def test_an_endpoint_reply_has_no_provider_key(endpoint_conn, run_dag, capsys, caplog):
    run = run_dag("hf_deferrable_sync")
    assert run.state == "success", run.states
    assert "provider" not in run.xcom["chat"]
    assert "provider" not in run.xcom["structured"]
    assert "served by" not in task_log(capsys, caplog)
