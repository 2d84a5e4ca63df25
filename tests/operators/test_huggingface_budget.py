"""max_total_tokens on HuggingFaceChatOperator, in dag.test() runs against the local fake (a word is a
token there): a budget of the task's calls, never sent as a generation setting; the structured-output
re-ask is made only when what the first call left also pays for resending it."""

from __future__ import annotations

import pytest

from airflow_provider_huggingface.exceptions import ConfigurationError

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
