"""The Test button (HuggingFaceHook.test_connection) against the local fake of the Hugging Face
API: real HTTP on 127.0.0.1."""

from __future__ import annotations

import json

from tests.airflow_internals import airflow_reads_connection
from tests.conftest import HOOK_TOKEN as TOKEN
from tests.fakes.hf_api import Fault


def test_test_connection_on_the_router(hub_redirect, router_hook):
    ok, message = router_hook.test_connection()
    assert ok, message
    assert "Connected to Hugging Face as fake-user" in message
    assert hub_redirect.requests[-1].path == "/api/whoami-v2"


def test_test_connection_with_a_bad_token_gives_guidance(hub_redirect, router_hook):
    hub_redirect.valid_tokens = {"hf_someoneelse"}
    ok, message = router_hook.test_connection()
    assert not ok
    assert "Invalid API key" in message
    assert "starts with hf_" in message
    assert TOKEN not in message


def test_test_connection_on_an_endpoint(fake_hf, endpoint_hook):
    ok, message = endpoint_hook.test_connection()
    assert ok, message
    assert fake_hf.requests[-1].path == "/v1/models"


def test_an_extra_that_is_not_json_is_named_in_the_test_result(fake_hf, monkeypatch):
    from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook

    conn = {"conn_type": "huggingface", "host": fake_hf.url, "extra": "{timeout: 5}"}
    monkeypatch.setenv("AIRFLOW_CONN_HF_BAD_EXTRA", json.dumps(conn))
    ok, message = HuggingFaceHook(hf_conn_id="hf_bad_extra").test_connection()
    if airflow_reads_connection("hf_bad_extra"):  # Airflow 3.2+: the hook gets it and warns
        assert ok, message
        assert "Warning: Connection 'hf_bad_extra': the extra is not valid JSON (" in message
        assert "so all of it is ignored and the defaults are used" in message
    else:  # Airflow 3.0 and 3.1 refuse the whole connection: say why, not "there is no connection"
        assert not ok
        assert "AIRFLOW_CONN_HF_BAD_EXTRA is set, but its extra is not valid JSON (" in message
        assert "refuses the whole connection. Correct the extra, e.g. {" in message
        assert "There is no connection" not in message


def test_test_connection_reports_unreachable_endpoint_and_bad_config(make_hook):
    ok, message = make_hook(host="http://127.0.0.1:9", extra={"timeout": 1}).test_connection()
    assert not ok
    assert "Could not reach" in message
    ok, message = make_hook(host="no-scheme.example").test_connection()
    assert not ok
    assert "has no http:// or https:// scheme" in message
    ok, message = make_hook().test_connection()
    assert not ok
    assert "has no Hugging Face API token" in message


def test_test_connection_times_out_with_guidance(fake_hf, make_hook):
    fake_hf.enqueue(Fault.hang(seconds=5).at("/v1/models"))
    ok, message = make_hook(host=fake_hf.url, extra={"timeout": 0.5}).test_connection()
    assert not ok
    assert "timeout" in message
