"""A batch's budgets and failure share as a demanding user meets them: every billed request counts,
a budget stop finishes or records what was paid for, the failed share is measured over what was
attempted, and a revoked token fails the task even after a budget stop. Against the local fake."""

from __future__ import annotations

import json

import pytest

from airflow_provider_huggingface.exceptions import HuggingFaceError, InvalidTokenError
from tests.batch.stubs import operator, stub_context
from tests.fakes.hf_api import Fault

TOKEN = "hf_batchbudgetcanary00001"
JSON = {"type": "json_object"}


@pytest.fixture
def fake_conn(fake_hf, use_connection):
    use_connection("hf_fake", host=fake_hf.url, password=TOKEN, extra={"max_retries": 2})
    return fake_hf


def json_on_second_ask(body: dict) -> str:
    """Not JSON at first; JSON once asked again (the re-ask carries the first reply as the assistant's)."""
    asked_again = any(m["role"] == "assistant" for m in body["messages"])
    return json.dumps({"item": body["messages"][0]["content"]}) if asked_again else "not json"


def test_max_calls_counts_every_billed_request_reasks_included(fake_conn):
    fake_conn.reply = json_on_second_ask
    task = operator(
        inputs=list("abcde"), response_format=JSON, max_calls=3, max_concurrency=1, max_failed_fraction=1.0
    )
    result = task.execute(stub_context())
    assert len(fake_conn.chat_requests) == 3  # not 6: a re-ask is a request the server bills
    assert result["succeeded"] == 1  # a, asked twice
    assert result["results"][0]["json"] == {"item": "a"}


def test_a_reask_the_budget_refuses_keeps_the_reply_already_paid_for(fake_conn, tmp_path):
    fake_conn.reply = json_on_second_ask
    task = operator(
        inputs=list("abcde"),
        response_format=JSON,
        max_calls=3,
        max_concurrency=1,
        max_failed_fraction=1.0,
        output_path=tmp_path.as_uri(),
    )
    result = task.execute(stub_context())
    # a: two calls, answered; b: its first call paid, its re-ask refused: a failure, with its reply kept.
    assert (result["succeeded"], result["failed"], result["not_sent"]) == (1, 1, 3)
    lines = {line["index"]: line for line in map(json.loads, (tmp_path / "d/r/batch.jsonl").open())}
    assert lines[1]["error"]["class"] == "StructuredOutputError"
    assert "Not asked again: max_calls=3 requests made" in lines[1]["error"]["message"]
    assert lines[1]["text"] == "not json"
    assert lines[1]["usage"]["total_tokens"] > 0
    # Every billed token is in the summary: three calls' worth.
    billed = sum(
        len(" ".join(m["content"] for m in r.body["messages"]).split()) for r in fake_conn.chat_requests
    )
    assert result["usage"]["prompt_tokens"] == billed


def last_turn(body: dict) -> str:
    return body["messages"][-1]["content"]


def test_a_retry_the_budget_refuses_counts_as_a_failure_not_as_not_sent(fake_conn):
    # a and b go out together (max_calls=2); b's 500 (billed, for all we know) cannot be retried.
    fake_conn.fault_plan = lambda n, body: Fault.status(500, after=0.2) if last_turn(body) == "b" else None
    task = operator(inputs=list("abcd"), max_calls=2, max_concurrency=2, max_failed_fraction=1.0)
    result = task.execute(stub_context())
    assert len(fake_conn.chat_requests) == 2
    assert (result["succeeded"], result["failed"], result["not_sent"]) == (1, 1, 2)
    error = result["results"][1]["error"]
    assert error["class"] == "ServiceUnavailableError"
    assert "Not retried: The task's budget is spent: max_calls=2 requests made" in error["message"]


def test_the_failed_share_is_measured_over_what_was_attempted(fake_conn):
    # 10 of 100 inputs are sent; 5 of those fail: 50% of what was attempted (over the 40% allowed),
    # not 5% of the inputs.
    fake_conn.fault_plan = lambda n, body: Fault.status(400) if n % 2 else None
    task = operator(inputs=list(range(100)), max_calls=10, max_concurrency=1, max_failed_fraction=0.4)
    with pytest.raises(HuggingFaceError, match=r"5 of 10 attempted failed or were not sent \(50.0%\)"):
        task.execute(stub_context())
    assert len(fake_conn.chat_requests) == 10


def test_within_the_share_of_what_was_attempted_the_task_succeeds(fake_conn, capsys):
    fake_conn.fault_plan = lambda n, body: Fault.status(400) if n == 3 else None
    task = operator(inputs=list(range(100)), max_calls=10, max_concurrency=1, max_failed_fraction=0.1)
    result = task.execute(stub_context())
    assert (result["succeeded"], result["failed"], result["not_sent"]) == (9, 1, 90)
    assert "within max_failed_fraction=0.1 of the 10 attempted" in capsys.readouterr().out


def test_a_revoked_token_in_flight_after_a_budget_stop_fails_the_task(fake_conn):
    # Two calls go out (max_calls=2): item 0 answers at once and spends the budget; item 1 meets a
    # 401 afterwards. Even with max_failed_fraction=1.0, a rejected token is no success. The fault
    # follows the item, not the arrival order: the two requests race to the server.
    def revoked_for_b(n: int, body: dict) -> Fault | None:
        return Fault.status(401, after=0.3) if "b" in body["messages"][-1]["content"] else None

    fake_conn.fault_plan = revoked_for_b
    task = operator(inputs=list("abcd"), max_calls=2, max_concurrency=2, max_failed_fraction=1.0)
    with pytest.raises(InvalidTokenError, match="The batch stopped: item 1 failed with InvalidTokenError"):
        task.execute(stub_context())


def test_a_token_budget_without_usage_from_the_server_is_said_once(fake_conn, capsys):
    fake_conn.report_usage = False
    task = operator(inputs=list("abcdef"), max_total_tokens=5, max_concurrency=2)
    result = task.execute(stub_context())
    assert result["succeeded"] == 6  # the budget cannot see the replies: it never stops the batch
    log = capsys.readouterr().out
    assert log.count("reports no token usage") == 1
    assert "max_total_tokens=5 cannot be applied" in log


def test_reask_lines_leave_the_retry_lines_their_own_budget(fake_conn, capsys):
    # Every item needs a re-ask, and the last items meet 429s: the retries are still logged.
    fake_conn.reply = json_on_second_ask

    def plan(n, body):
        return Fault.rate_limited(retry_after=0.01) if n >= 12 and n % 2 == 0 else None

    fake_conn.fault_plan = plan
    task = operator(inputs=[f"q{i}" for i in range(8)], response_format=JSON, max_concurrency=1)
    result = task.execute(stub_context())
    assert result["succeeded"] == 8
    text = capsys.readouterr().out
    assert text.count("Asking once more for JSON that fits") == 5
    assert "Further re-asks for JSON are not logged one by one." in text
    assert text.count("Retry 1/2 in") >= 1
