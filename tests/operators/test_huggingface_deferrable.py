"""HuggingFaceChatOperator(deferrable=True): checks in the worker, the call in the trigger, the same XCom.

DAG runs use ``dag.test()``, which runs a deferred task's trigger in-process (``[DAG TEST] running
trigger in line``) and then resumes the task with ``execute_complete``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_huggingface._internal.airflow_compat import AirflowFailException, TaskDeferred
from airflow_provider_huggingface.exceptions import (
    ConfigurationError,
    HuggingFaceError,
    InvalidTokenError,
    ModelNotSupportedError,
    RateLimitError,
)
from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator
from airflow_provider_huggingface.triggers.huggingface import HuggingFaceChatTrigger, error_event
from tests.airflow_internals import without_supervisor_echo
from tests.fakes.hf_api import Fault

TOKEN = "hf_deferrabletestcanary001"
ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def fake_conn(fake_hf, use_connection):
    use_connection("hf_fake", host=fake_hf.url, password=TOKEN, extra={"max_retries": 2})
    return fake_hf


def context_for(task: HuggingFaceChatOperator, xcoms: dict | None = None) -> dict:
    """The parts of an Airflow context the prompt scope reads, with upstream return values."""
    xcoms = xcoms or {}
    ti = SimpleNamespace(
        dag_id="dag", task_id=task.task_id, xcom_pull=lambda task_ids=None, **_: xcoms.get(task_ids)
    )
    return {"ti": ti, "dag": SimpleNamespace(task_ids=[task.task_id, *xcoms]), "run_id": "manual__1"}


def deferred(task: HuggingFaceChatOperator, xcoms: dict | None = None) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as info:
        task.execute(context_for(task, xcoms))
    return info.value


# ---------------------------------------------------------------------------------------- the operator


def test_deferrable_defaults_to_the_operators_default_deferrable_setting():
    # Read when the module is imported, as Airflow's own providers read it: so a fresh process.
    code = (
        "from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator as Op\n"
        "print(Op(task_id='a', user_prompt='x').deferrable, "
        "Op(task_id='b', user_prompt='x', deferrable=False).deferrable)"
    )
    env = {**os.environ, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["True", "False"]
    # This process has no such setting: the fallback is the synchronous path.
    assert HuggingFaceChatOperator(task_id="c", user_prompt="x").deferrable is False


def test_execute_renders_and_checks_in_the_worker_then_defers(fake_conn):
    task = HuggingFaceChatOperator(
        task_id="chat",
        hf_conn_id="hf_fake",
        system_prompt="Run {{run_id}}.",
        user_prompt="Summarize: {{fetch.data}}",
        model="org/model",
        max_tokens=30,
        stop="END",
        execution_timeout=timedelta(minutes=5),
        deferrable=True,
    )
    deferral = deferred(task, {"fetch": {"data": "a & <b>"}})
    assert deferral.method_name == "execute_complete"
    assert deferral.timeout == timedelta(minutes=5)
    assert isinstance(deferral.trigger, HuggingFaceChatTrigger)
    _, kwargs = deferral.trigger.serialize()
    assert kwargs == {
        "hf_conn_id": "hf_fake",
        "model": "org/model",
        "messages": [
            {"role": "system", "content": "Run manual__1."},
            {"role": "user", "content": "Summarize: a & <b>"},
        ],
        "generation": {"max_tokens": 30, "stop": ["END"]},
        "fallback_models": [],
        "max_calls": None,
        "max_total_tokens": None,
        "reader": "json",
        "carry": None,
    }
    assert TOKEN not in json.dumps(kwargs)
    assert fake_conn.requests == []  # nothing is sent from the worker


def test_a_bad_setting_fails_in_the_worker_without_deferring(fake_conn):
    task = HuggingFaceChatOperator(
        task_id="chat", hf_conn_id="hf_fake", user_prompt="Hi", temperature=7, deferrable=True
    )
    with pytest.raises(ConfigurationError, match="temperature=7"):
        task.execute(context_for(task))
    assert fake_conn.requests == []


def test_the_model_is_validated_in_the_worker_before_deferring(hub_redirect, use_connection):
    use_connection("hf_fake", password=TOKEN)  # the router, where models are checked on the Hub
    task = HuggingFaceChatOperator(
        task_id="chat",
        hf_conn_id="hf_fake",
        user_prompt="Hi",
        model="bigcode/starcoder2-15b",  # a code model without a chat template
        deferrable=True,
    )
    with pytest.raises(ModelNotSupportedError):
        task.execute(context_for(task))
    assert [r.path for r in hub_redirect.requests if r.path.startswith("/api/models/")]
    assert hub_redirect.chat_requests == []
    # validate_model=False skips the check, as on the synchronous path.
    task.validate_model = False
    assert deferred(task).trigger.model == "bigcode/starcoder2-15b"


def test_stream_is_ignored_with_a_warning_when_deferred(fake_conn, capsys):
    task = HuggingFaceChatOperator(
        task_id="chat", hf_conn_id="hf_fake", user_prompt="Hi", stream=True, deferrable=True
    )
    generation = deferred(task).trigger.generation
    assert "stream" not in generation
    assert "stream=True is ignored while deferred" in capsys.readouterr().out


def test_execute_complete_returns_the_result():
    task = HuggingFaceChatOperator(task_id="chat", user_prompt="Hi", deferrable=True)
    result = {"text": "t", "model": "m", "finish_reason": "stop", "usage": None}
    assert task.execute_complete({}, {"status": "success", "result": result}) == result


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (InvalidTokenError("bad token, see https://huggingface.co/settings/tokens", status_code=401), True),
        (RateLimitError("slow down", status_code=429), False),
        (HuggingFaceError("Connection 'x' could not be read"), False),
    ],
)
def test_execute_complete_reraises_the_same_error(error, permanent):
    task = HuggingFaceChatOperator(task_id="chat", user_prompt="Hi", deferrable=True)
    with pytest.raises(HuggingFaceError) as info:
        task.execute_complete({}, json.loads(json.dumps(error_event(error))))
    assert type(info.value) is type(error)
    assert str(info.value) == str(error)
    assert info.value.status_code == error.status_code
    assert isinstance(info.value, AirflowFailException) is permanent


# ---------------------------------------------------------------------------------------- DAG runs


def reply(body: dict) -> str:
    if body.get("response_format"):
        return '{"city": "Paris"}'
    return "Summary of " + body["messages"][-1]["content"]


def test_a_deferred_run_pushes_the_same_xcom_as_a_sync_run(fake_conn, run_dag, capsys, caplog):
    fake_conn.reply = reply
    fake_conn.latency = 0.2
    deferred_run = run_dag("hf_deferrable")
    assert deferred_run.state == "success", deferred_run.states
    # dag.test()'s own lines reach logging; the task logs reach stdout.
    assert caplog.text.count("[DAG TEST] running trigger in line") == 2
    assert "stream=True is ignored while deferred" in capsys.readouterr().out
    deferred_requests = [r.body for r in fake_conn.chat_requests]

    fake_conn.reset()
    fake_conn.reply = reply
    caplog.clear()
    sync_run = run_dag("hf_deferrable_sync")
    assert sync_run.state == "success", sync_run.states
    assert "[DAG TEST] running trigger in line" not in caplog.text

    for task_id in ("chat", "structured"):
        assert deferred_run.xcom[task_id] == sync_run.xcom[task_id]
    assert deferred_run.xcom["chat"]["text"] == "Summary of Summarize: Paris & <Lyon>"
    assert deferred_run.xcom["structured"]["json"] == {"city": "Paris"}
    assert set(deferred_run.xcom["chat"]["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}

    def sent(bodies) -> list[str]:
        return sorted(json.dumps([b["messages"], b.get("max_tokens"), b.get("stop")]) for b in bodies)

    assert sent(deferred_requests) == sent(r.body for r in fake_conn.chat_requests)
    assert not any(body.get("stream") for body in deferred_requests)


def test_a_loading_model_is_waited_for_in_the_trigger(fake_conn, run_dag, capsys):
    fake_conn.reply = reply
    fake_conn.enqueue(Fault.loading(estimated_time=0.05))
    run = run_dag("hf_deferrable")
    assert run.state == "success", run.states
    assert len(fake_conn.chat_requests) == 3  # one task retried once, in the trigger
    assert "Retry 1/2" in capsys.readouterr().out


def test_a_rejected_token_fails_the_deferred_task_for_good_with_guidance(fake_conn, run_dag, capsys):
    fake_conn.valid_tokens = {"hf_someoneelse"}
    run = run_dag("hf_deferrable")
    log = without_supervisor_echo(capsys.readouterr().out)
    assert run.states["chat"] == "failed"
    assert run.states["structured"] == "failed"
    # One request per task: neither the hook's retries nor Airflow's (retries=2) tried again.
    assert len(fake_conn.chat_requests) == 2
    assert "InvalidTokenError" in log
    assert "Invalid API key" in log
    assert "https://huggingface.co/settings/tokens" in log
    assert TOKEN not in log
