"""HuggingFaceBatchChatOperator in real DAG runs (dag.test(), metadata DB, XCom) against the local fake."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from airflow_provider_huggingface.exceptions import ConfigurationError, InvalidTokenError
from airflow_provider_huggingface.operators.batch import HuggingFaceBatchChatOperator
from tests.fakes.hf_api import Fault

TOKEN = "hf_batchtestcanary0000001"


@pytest.fixture
def fake_conn(fake_hf, use_connection):
    use_connection("hf_fake", host=fake_hf.url, password=TOKEN, extra={"max_retries": 8})
    fake_hf.reply = lambda body: f"re: {body['messages'][-1]['content']}"
    return fake_hf


def user_prompts(fake) -> list[str]:
    return [r.body["messages"][-1]["content"] for r in fake.chat_requests]


def test_results_are_in_input_order_with_prompts_rendered_per_item(fake_conn, run_dag, capsys):
    # The first requests answer last, so completion order is not input order.
    fake_conn.fault_plan = lambda n, body: Fault.delay(0.05 * (4 - n)) if n < 4 else None
    run = run_dag("hf_batch")
    assert run.state == "success", run.states
    summary = run.xcom["batch"]
    rivers = ["Nile", "Amazon", "Danube", "Mekong", "Volga"]
    prompts = [f"{river}: tell me about rivers (batch)" for river in rivers]
    assert [r["text"] for r in summary["results"]] == [f"re: {p}" for p in prompts]
    assert sorted(user_prompts(fake_conn)) == sorted(prompts)
    assert {r.body["messages"][0]["content"] for r in fake_conn.chat_requests} == {"Answer briefly."}
    assert (summary["succeeded"], summary["failed"], summary["not_sent"]) == (5, 0, 0)
    # The fake counts a word as a token: "Answer briefly." + the user prompt; the reply echoes it.
    prompt_tokens = sum(2 + len(p.split()) for p in prompts)
    completion_tokens = sum(1 + len(p.split()) for p in prompts)
    assert summary["usage"] == {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    assert run.xcom["texts"] == [f"re: {p}" for p in prompts]  # downstream reads the XCom
    json.dumps(summary)
    log = capsys.readouterr().out
    assert "Batch finished: 5/5 done" in log
    assert "Batch progress:" in log
    assert "Chat:" not in log
    assert "HTTP Request" not in log


def test_inputs_may_be_plain_values_from_an_upstream_task(fake_conn, run_dag):
    run = run_dag("hf_batch_strict", run_conf={"items": ["a", 2, None, {"k": [1]}]})
    assert run.state == "success", run.states
    assert [r["text"] for r in run.xcom["batch"]["results"]] == [
        "re: Item a",
        "re: Item 2",
        "re: Item ",
        're: Item {"k": [1]}',
    ]


def test_429s_are_retried_under_a_lowered_limit_and_every_item_finishes(fake_conn, run_dag, capsys):
    fake_conn.rate_limit = 20
    items = [{"q": f"q{i}"} for i in range(40)]
    run = run_dag("hf_batch", run_conf={"items": items})
    assert run.state == "success", run.states
    summary = run.xcom["batch"]
    assert summary["succeeded"] == 40
    assert [r["text"].split(":")[1] for r in summary["results"]] == [f" q{i}" for i in range(40)]
    statuses = [r.status for r in fake_conn.chat_requests]
    assert statuses.count(429) > 0
    assert statuses.count(200) == 40
    assert fake_conn.max_in_flight <= 4
    log = capsys.readouterr().out
    lowered = re.search(r"Batch finished: .* (\d+) retries; .* lowered (\d+) time", log)
    assert lowered
    assert int(lowered.group(1)) == statuses.count(429)
    assert int(lowered.group(2)) >= 1
    # Five retry lines, then one saying the rest are counted.
    assert len(re.findall(r"Retry \d/\d+ in", log)) == min(5, statuses.count(429))


def test_retry_after_429s_from_a_fault_plan(fake_conn, run_dag):
    fake_conn.fault_plan = lambda n, body: Fault.rate_limited(retry_after=0.05) if n % 3 == 0 else None
    run = run_dag("hf_batch", run_conf={"items": [{"q": str(i)} for i in range(30)]})
    assert run.state == "success", run.states
    assert run.xcom["batch"]["succeeded"] == 30
    assert fake_conn.max_in_flight <= 4
    assert [r.status for r in fake_conn.chat_requests].count(429) >= 10


def test_a_rejected_token_stops_the_batch_early_and_fails_it(fake_conn, run_dag, capsys):
    fake_conn.valid_tokens = {"hf_someoneelse"}
    run = run_dag("hf_batch_strict", run_conf={"items": list(range(200))})
    assert run.states["batch"] == "failed"
    assert len(fake_conn.chat_requests) <= 4  # those already in flight, not 200
    log = capsys.readouterr().out
    assert "The batch stopped: item" in log
    assert "InvalidTokenError" in log
    assert "Invalid API key" in log
    assert "Stopping the batch" in log
    assert TOKEN not in log


def test_one_failure_fails_a_strict_batch(fake_conn, run_dag, capsys):
    fake_conn.fault_plan = lambda n, body: Fault.status(400) if "Item 3" in json.dumps(body) else None
    run = run_dag("hf_batch_strict", run_conf={"items": list(range(6))})
    assert run.states["batch"] == "failed"
    log = capsys.readouterr().out
    assert re.search(r"\d of 6 items failed .* more than max_failed_fraction=0 allows", log)
    assert "item 3: InvalidRequestError" in log


def test_failures_within_the_budget_keep_the_task_green(fake_conn, run_dag):
    bad = {"b1", "b2", "b3"}
    fake_conn.fault_plan = lambda n, body: (
        Fault.status(400) if body["messages"][-1]["content"] in bad else None
    )
    items = ["a0", "b1", "a2", "b2", "a4", "b3", "a6", "a7", "a8", "a9"]
    run = run_dag("hf_batch_tolerant", run_conf={"items": items})
    assert run.state == "success", run.states
    summary = run.xcom["batch"]
    assert (summary["succeeded"], summary["failed"], summary["not_sent"]) == (7, 3, 0)
    for index, result in enumerate(summary["results"]):
        if items[index] in bad:
            assert result["index"] == index
            assert result["error"]["class"] == "InvalidRequestError"
            assert result["error"]["status_code"] == 400
            assert result["error"]["message"]
        else:
            assert result["text"] == f"re: {items[index]}"
    assert len(fake_conn.chat_requests) == 10


def test_failures_beyond_the_budget_fail_the_task(fake_conn, run_dag, capsys):
    fake_conn.fault_plan = lambda n, body: (
        Fault.status(400) if body["messages"][-1]["content"] != "ok" else None
    )
    run = run_dag("hf_batch_tolerant", run_conf={"items": ["ok", "x1", "x2", "x3", "x4", "x5", "x6", "ok"]})
    assert run.states["batch"] == "failed"
    log = capsys.readouterr().out
    assert "more than max_failed_fraction=0.5 allows" in log
    # Five failures decide it: the rest is not sent.
    assert len(fake_conn.chat_requests) < 8


def test_a_template_error_names_the_item_and_sends_nothing(fake_conn, run_dag, capsys):
    run = run_dag("hf_batch_bad_template")
    assert run.states["batch"] == "failed"
    log = capsys.readouterr().out
    assert "inputs[2] ({'x': 'c'})" in log
    assert "item.q" in log
    assert fake_conn.chat_requests == []


# ---------------------------------------------------------------------------------------------
# execute() with a stub context: arguments and edge cases that need no DAG run.


def stub_context() -> dict:
    ti = SimpleNamespace(dag_id="d", task_id="batch", xcom_pull=lambda task_ids: None)
    return {"ti": ti, "dag": SimpleNamespace(task_ids=["batch"]), "params": {}, "run_id": "r"}


def operator(**kwargs) -> HuggingFaceBatchChatOperator:
    kwargs.setdefault("user_prompt", "{{item}}")
    return HuggingFaceBatchChatOperator(task_id="batch", hf_conn_id="hf_fake", **kwargs)


def test_no_inputs_sends_nothing(fake_conn):
    assert operator(inputs=[]).execute(stub_context()) == {
        "results": [],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "succeeded": 0,
        "failed": 0,
        "not_sent": 0,
    }
    assert fake_conn.requests == []


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        (
            {"inputs": "{{ ti.xcom_pull('x') }}"},
            ["inputs must be a list, not str", "render_template_as_native_obj"],
        ),
        ({"inputs": {"a": 1}}, ["inputs must be a list, not dict"]),
        ({"inputs": [1], "temperature": 7}, ["temperature"]),
        ({"inputs": [1, " "], "user_prompt": "{{item}}"}, ["inputs[1] (' ')", "user_prompt is empty"]),
    ],
)
def test_bad_inputs_and_settings_fail_before_any_request(fake_conn, kwargs, words):
    with pytest.raises(ConfigurationError) as error:
        operator(**kwargs).execute(stub_context())
    for word in words:
        assert word in str(error.value)
    assert fake_conn.requests == []


@pytest.mark.parametrize(
    "kwargs", [{"max_concurrency": 0}, {"max_concurrency": 1.5}, {"max_failed_fraction": 1.5}]
)
def test_bad_limits_are_refused_when_the_dag_is_parsed(kwargs):
    with pytest.raises(ConfigurationError):
        operator(inputs=[], **kwargs)


def test_a_prompt_without_item_is_rendered_once_and_shared(fake_conn):
    op = operator(inputs=["a", "b"], system_prompt="Be brief, {{run_id}}.")
    requests = op.prepare_requests(stub_context(), op.items(), op.hook)
    assert [r.messages[0]["content"] for r in requests] == ["Be brief, r."] * 2
    assert requests[0].messages[0]["content"] is requests[1].messages[0]["content"]
    assert [r.messages[1]["content"] for r in requests] == ["a", "b"]


def test_a_model_check_happens_once_per_batch(fake_hf, hub_redirect, use_connection, monkeypatch):
    from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook

    checked = []
    original = HuggingFaceHook.validate_model
    monkeypatch.setattr(
        HuggingFaceHook,
        "validate_model",
        lambda hook, request: checked.append(request) or original(hook, request),
    )
    use_connection("hf_fake", password=TOKEN)
    result = operator(inputs=list("abcdef"), max_concurrency=3).execute(stub_context())
    assert result["succeeded"] == 6
    assert len(checked) == 1
    assert any(r.path.startswith("/api/models/") for r in fake_hf.requests)  # a real Hub check, on the fake
    assert len(fake_hf.chat_requests) == 6


def test_a_batch_runs_from_inside_a_running_event_loop(fake_conn):
    import asyncio

    async def inside() -> dict:
        return operator(inputs=["a", "b"]).execute(stub_context())

    assert [r["text"] for r in asyncio.run(inside())["results"]] == ["re: a", "re: b"]


def test_the_same_permanent_failure_on_the_first_items_stops_even_a_tolerant_batch(fake_conn):
    fake_conn.fault_plan = lambda n, body: Fault.status(422)
    result = operator(inputs=list(range(100)), max_concurrency=2, max_failed_fraction=1).execute(
        stub_context()
    )
    assert result["succeeded"] == 0
    assert result["failed"] == 100
    assert len(fake_conn.chat_requests) <= 12  # ten alike, and those already in flight
    assert result["not_sent"] >= 88
    assert (
        "the first 10 items all failed with InvalidRequestError" in result["results"][-1]["error"]["message"]
    )


def test_a_rejected_token_fails_even_a_batch_that_tolerates_every_failure(fake_conn):
    # max_failed_fraction=1 tolerates failed items, not a broken connection passing for success.
    fake_conn.valid_tokens = {"hf_someoneelse"}
    task = operator(inputs=list(range(50)), max_concurrency=2, max_failed_fraction=1)
    with pytest.raises(InvalidTokenError, match="The batch stopped: item"):
        task.execute(stub_context())
    assert len(fake_conn.chat_requests) <= 4
