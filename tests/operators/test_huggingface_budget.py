"""max_total_tokens on HuggingFaceChatOperator, in dag.test() runs against the local fake (a word is a
token there): a budget of the task's calls, never sent as a generation setting; the structured-output
re-ask is made only when what the first call left also pays for resending it."""

from __future__ import annotations

import pytest

from airflow_provider_huggingface.exceptions import ConfigurationError
from tests.fakes.hf_api import Fault

TOKEN = "hf_budgettestcanary000001"


def reply(body: dict) -> str:
    # Not JSON at first; JSON once asked again (the re-ask carries the first reply as the assistant's).
    return '{"n": 1}' if any(m["role"] == "assistant" for m in body["messages"]) else "not json"


def test_a_call_and_its_reask_stay_within_max_total_tokens(fake_hf, use_connection, run_dag, capsys):
    use_connection("hf_fake", host=fake_hf.url, password=TOKEN, extra={"max_retries": 0})
    fake_hf.reply = reply
    run = run_dag("hf_chat_budget")
    assert run.states["capped"] == "success"
    bodies: dict[str, list[dict]] = {}
    for r in fake_hf.chat_requests:
        bodies.setdefault(r.body["messages"][0]["content"], []).append(r.body)
    # A budget is not a generation setting: max_tokens is what the task gave, and no more.
    assert [b.get("max_tokens") for b in bodies["Tell me more"]] == [50]
    for suffix in ("", "_deferred"):
        assert run.states[f"reask{suffix}"] == "success"
        assert run.xcom[f"reask{suffix}"]["json"] == {"n": 1}
        # "Give JSON please" + "not json" = 5 tokens; the re-ask resends them: 40 - 2 x 5 = 30 left.
        assert run.states[f"no_room{suffix}"] == "failed"
    reasks = bodies["Give JSON please"]
    assert [b.get("max_tokens") for b in reasks] == [None] * 4  # in the worker, then deferred
    # 8 tokens cannot pay for a re-ask that resends the first call's 5: one request each, no second.
    assert len(bodies["Give JSON now"]) == 2
    log = capsys.readouterr().out
    assert (
        log.count("Not asked again: max_total_tokens=8 leaves no room after the first call's 5 tokens") >= 2
    )


def test_a_bad_budget_is_refused_before_any_call(fake_hf, make_hook):
    hook = make_hook(host=fake_hf.url, password=TOKEN)
    with pytest.raises(
        ConfigurationError, match="max_total_tokens=0 is not valid: it must be a whole number"
    ):
        hook.chat(user_prompt="Hi", max_total_tokens=0)
    assert fake_hf.requests == []


def test_a_budget_is_never_sent_as_max_tokens(fake_hf, make_hook):
    # A server with an 8k context (TGI) refuses a max_tokens beyond it: a budget must not become one.
    def eight_k(n, body):
        return (
            Fault.status(422, {"error": "max_tokens must be <= 8192"})
            if body.get("max_tokens", 0) > 8192
            else None
        )

    fake_hf.fault_plan = eight_k
    hook = make_hook(host=fake_hf.url, password=TOKEN, extra={"max_retries": 0})
    result = hook.chat(user_prompt="Hi", max_total_tokens=100_000)
    assert result["text"]
    assert "max_tokens" not in fake_hf.chat_requests[0].body
    assert hook.chat(user_prompt="Hi", max_tokens=64, max_total_tokens=100_000)["text"]
    assert fake_hf.chat_requests[1].body["max_tokens"] == 64  # what the task asked for, as it is


def test_a_token_budget_the_server_cannot_meter_is_said_once(fake_hf, make_hook, capsys):
    fake_hf.report_usage = False
    fake_hf.reply = lambda body: '{"n": 1}' if len(body["messages"]) > 1 else "not json"
    hook = make_hook(host=fake_hf.url, password=TOKEN, extra={"max_retries": 0})
    result = hook.chat(user_prompt="Give JSON", response_format={"type": "json_object"}, max_total_tokens=5)
    assert result["json"] == {"n": 1}
    assert result["usage"] is None
    captured = capsys.readouterr()
    log = captured.out + captured.err
    # Two replies without usage, one warning (Airflow 3.0's test logging may copy it to both streams).
    assert (
        max(captured.out.count("reports no token usage"), captured.err.count("reports no token usage")) == 1
    )
    assert (
        "The server reports no token usage, so max_total_tokens=5 cannot be applied to its replies; use "
        "max_calls (and max_tokens) to bound this task's spending." in log
    )
