"""HuggingFaceBatchChatOperator in real DAG runs (dag.test(), metadata DB, XCom) against the local fake."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import Counter

import pytest

from airflow_provider_huggingface.exceptions import ConfigurationError, InvalidTokenError
from tests.airflow_internals import without_supervisor_echo
from tests.batch.stubs import operator, stub_context
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
    # No line per call (Airflow 3.0 logs its own in-process API calls: those may stay).
    assert [line for line in log.splitlines() if "HTTP Request" in line and fake_conn.url in line] == []


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


def test_a_paced_batch_meets_a_rate_limit_without_429s_where_an_unpaced_one_meets_them(fake_conn, run_dag):
    fake_conn.rate_limit = 10  # a sliding second
    items = list(range(16))
    paced = run_dag("hf_batch_paced", run_conf={"items": items, "calls_per_second": 8})
    assert paced.state == "success", paced.states
    assert paced.xcom["batch"]["succeeded"] == 16
    paced_statuses = Counter(r.status for r in fake_conn.chat_requests)
    assert paced_statuses == {200: 16}
    unpaced = run_dag("hf_batch_strict", run_conf={"items": items})  # the same batch, unpaced
    assert unpaced.state == "success", unpaced.states
    unpaced_statuses = Counter(r.status for r in fake_conn.chat_requests) - paced_statuses
    assert unpaced_statuses[200] == 16
    assert unpaced_statuses[429] > 0


def test_a_bad_rate_in_a_run_fails_the_task_before_any_call(fake_conn, run_dag, capsys):
    run = run_dag("hf_batch_paced", run_conf={"items": [1, 2], "calls_per_second": "fast"})
    assert run.states["batch"] == "failed"
    assert fake_conn.chat_requests == []
    log = capsys.readouterr().out
    assert "max_calls_per_second='fast' is not valid: it must be a number greater than 0" in log


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
    log = without_supervisor_echo(capsys.readouterr().out)
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


def test_no_inputs_sends_nothing(fake_conn):
    assert operator(inputs=[]).execute(stub_context()) == {
        "results": [],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "succeeded": 0,
        "failed": 0,
        "not_sent": 0,
        "reused": 0,
        "total": 0,
    }
    assert fake_conn.requests == []


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        (
            {"inputs": "{{ ti.xcom_pull('x') }}"},
            ["inputs must be a list or a file", "not str", "render_template_as_native_obj"],
        ),
        ({"inputs": {"a": 1}}, ["inputs must be a list or a file", "not dict"]),
        ({"inputs": "file:///nowhere/in.json"}, ["must end in .jsonl", "not '.json'"]),
        ({"inputs": [1], "temperature": 7}, ["temperature"]),
        ({"inputs": [1, " "], "user_prompt": "{{item}}"}, ["inputs[1] (' ')", "user_prompt is empty"]),
        *(
            (
                {"inputs": [1], "max_calls_per_second": rate},
                [f"max_calls_per_second={rate!r}", "it must be a number greater than 0", "None for no"],
            )
            for rate in (0, -2.5, "0", "2.5/s", True, float("nan"), [2])
        ),
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


def test_a_batch_drops_its_own_request_lines_only(fake_conn, caplog):
    # A worker may run other tasks in threads: their httpx lines stay while a batch runs.
    from huggingface_hub.utils import get_session

    caplog.set_level(logging.INFO)
    for name in ("httpx", "httpx2"):
        caplog.set_level(logging.INFO, logger=name)
    fake_conn.latency = 0.05
    stop = threading.Event()

    def theirs() -> None:
        while not stop.wait(0.02):
            get_session().get(f"{fake_conn.url}/health?who=theirs")

    other = threading.Thread(target=theirs)
    other.start()
    try:
        result = operator(inputs=list("abcdef"), max_concurrency=2).execute(stub_context())
    finally:
        stop.set()
        other.join()
    assert result["succeeded"] == 6
    lines = [r.getMessage() for r in caplog.records if "HTTP Request" in r.msg]
    theirs_sent = [r for r in fake_conn.requests if r.path == "/health"]
    assert len(theirs_sent) >= 3  # some while the batch ran
    assert len(lines) == len(theirs_sent)
    assert all("who=theirs" in line for line in lines)


def test_the_same_permanent_failure_on_the_first_items_stops_even_a_tolerant_batch(fake_conn):
    fake_conn.fault_plan = lambda n, body: Fault.status(422)
    result = operator(inputs=list(range(100)), max_concurrency=2, max_failed_fraction=1).execute(
        stub_context()
    )
    assert result["succeeded"] == 0
    assert result["failed"] + result["not_sent"] == 100
    assert len(fake_conn.chat_requests) <= 12  # ten alike, and those already in flight
    assert result["not_sent"] >= 88
    assert [r["error"]["class"] for r in result["results"]].count("NotSent") == result["not_sent"]
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


# ---------------------------------------------------------------------------------------------
# Durable replies, resumed retries, files of inputs and budgets, in real DAG runs.


def reply_lines(uri: str) -> list[dict]:
    """The lines of a file of replies named by its file:// URI."""
    from airflow.sdk import ObjectStoragePath

    return [json.loads(line) for line in ObjectStoragePath(uri).read_text().splitlines()]


def test_a_retry_sends_only_what_the_first_try_did_not_answer(
    fake_conn, use_connection, run_dag, tmp_path, capsys
):
    use_connection("hf_fake", host=fake_conn.url, password=TOKEN, extra={"max_retries": 0})
    items = [f"x{i}" for i in range(30)]
    asked: Counter = Counter()

    def plan(n, body):
        text = body["messages"][-1]["content"]
        asked[text] += 1
        return Fault.server_error(500) if text == "x3" and asked[text] == 1 else None

    fake_conn.fault_plan = plan
    run = run_dag("hf_batch_durable", run_conf={"items": items, "out": tmp_path.as_uri() + "/"})
    assert run.state == "success", run.states
    summary = run.xcom["batch"]
    # Each paid reply was paid once: the second try sent the failure and what the stop left unsent.
    assert Counter(user_prompts(fake_conn)) == {text: 2 if text == "x3" else 1 for text in items}
    assert "results" not in summary  # the XCom stays small: the replies are in the file
    assert (summary["total"], summary["succeeded"], summary["failed"], summary["not_sent"]) == (30, 30, 0, 0)
    reused = summary["reused"]
    assert 1 <= reused < 30
    lines = reply_lines(summary["output_path"])
    run_id = summary["output_path"].split("/")[-2]
    assert summary["output_path"] == f"{tmp_path.as_uri()}/hf_batch_durable/{run_id}/batch.jsonl"
    assert sorted(line["index"] for line in lines) == list(range(30))  # one line per index
    for line in lines:
        assert line["input"] == items[line["index"]]
        assert line["text"] == f"re: {line['input']}"
        assert set(line) == {"index", "input", "request", "text", "model", "finish_reason", "usage"}
    # The usage counts every answer, those of the first try included.
    assert summary["usage"]["total_tokens"] == sum(line["usage"]["total_tokens"] for line in lines)
    log = capsys.readouterr().out
    assert re.search(rf"1 failed, {29 - reused} not sent, {reused} answered of 30 items", log)
    assert f"Resuming: {reused} of 30 items were answered by an earlier try" in log


def test_a_failed_batch_pushes_what_it_has_before_failing(fake_conn, dagbag):
    fake_conn.fault_plan = lambda n, body: Fault.status(400) if "Item 19" in json.dumps(body) else None
    dag_run = dagbag["hf_batch_strict"].test(run_conf={"items": list(range(20))})
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == "batch"]
    assert str(ti.state) == "failed"
    partial = ti.xcom_pull(task_ids="batch", key="partial_results")
    assert (partial["succeeded"], partial["failed"], partial["not_sent"]) == (19, 1, 0)
    assert [r["text"] for r in partial["results"][:19]] == [f"re: Item {i}" for i in range(19)]
    assert partial["results"][19]["error"]["class"] == "InvalidRequestError"
    assert len(fake_conn.chat_requests) == 20  # a retry with a file would send one call, not 20


def test_the_error_tells_failed_from_not_sent_from_answered(fake_conn, run_dag, capsys):
    rejected = {"i6", "i7", "i8"}
    fake_conn.fault_plan = lambda n, body: (
        Fault.status(400) if body["messages"][-1]["content"] in rejected else None
    )
    run = run_dag("hf_batch_serial", run_conf={"items": [f"i{i}" for i in range(30)]})
    assert run.states["batch"] == "failed"
    log = capsys.readouterr().out
    # One call at a time: 6 answers, then 2 failures are more than 5% of 30 allows.
    assert "The batch failed: 2 failed, 22 not sent, 6 answered of 30 items." in log
    assert len(fake_conn.chat_requests) == 8


def test_a_call_budget_stops_starting_calls_and_the_task_succeeds(fake_conn, run_dag, capsys):
    run = run_dag("hf_batch_budget", run_conf={"items": [f"b{i}" for i in range(12)]})
    assert run.state == "success", run.states
    summary = run.xcom["batch"]
    assert len(fake_conn.chat_requests) == 5
    assert (summary["succeeded"], summary["failed"], summary["not_sent"]) == (5, 0, 7)
    not_sent = [r for r in summary["results"] if "error" in r]
    assert len(not_sent) == 7
    assert {r["error"]["message"] for r in not_sent} == {
        "Not sent: budget reached: max_calls=5 requests made"
    }
    assert "7 of 12 items not sent: budget reached" in capsys.readouterr().out


def test_a_token_budget_stops_starting_calls(fake_conn):
    # The fake bills a word as a token: "tN" costs 1 prompt token and 2 completion tokens ("re: tN").
    result = operator(inputs=[f"t{i}" for i in range(10)], max_concurrency=1, max_total_tokens=7).execute(
        stub_context()
    )
    assert len(fake_conn.chat_requests) == 3  # 3, 6, then 9 >= 7: no fourth call
    assert result["usage"]["total_tokens"] == 9
    assert (result["succeeded"], result["failed"], result["not_sent"]) == (3, 0, 7)


def test_answers_of_earlier_tries_count_against_the_budget(fake_conn, tmp_path):
    task = operator(
        inputs=[f"t{i}" for i in range(10)], max_concurrency=1, output_path=str(tmp_path.as_uri())
    )
    task.max_calls = 4
    assert task.execute(stub_context())["succeeded"] == 4
    task.max_calls = 6  # a retry with a larger budget: two more calls, not six
    result = task.execute(stub_context())
    assert (result["succeeded"], result["reused"], result["not_sent"]) == (6, 4, 4)
    assert len(fake_conn.chat_requests) == 6


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_inputs_from_a_file_are_read_as_a_stream(fake_conn, run_dag, tmp_path, suffix):
    questions = [f"question {i}" for i in range(40)] + ["{{ds}} and {{item}} stay as they are"]
    source = tmp_path / f"in.{suffix}"
    if suffix == "jsonl":
        source.write_text("".join(json.dumps({"q": q, "n": i}) + "\n" for i, q in enumerate(questions)))
    else:
        source.write_text("q,n\n" + "".join(f'"{q}",{i}\n' for i, q in enumerate(questions)))
    out = tmp_path / "out"
    run = run_dag("hf_batch_file", run_conf={"inputs": source.as_uri(), "out": out.as_uri()})
    assert run.state == "success", run.states
    summary = run.xcom["batch"]
    assert (summary["total"], summary["succeeded"]) == (41, 41)
    assert sorted(user_prompts(fake_conn)) == sorted(questions)
    lines = sorted(reply_lines(summary["output_path"]), key=lambda line: line["index"])
    assert [line["text"] for line in lines] == [f"re: {q}" for q in questions]
    assert str(lines[3]["input"]["n"]) == "3"  # a CSV row is a dict of strings


def test_a_bad_line_in_a_file_of_inputs_fails_before_any_call(fake_conn, run_dag, tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text('{"q": "fine"}\n{"q": "fine too"}\n{"q": broken\n')
    run = run_dag("hf_batch_file", run_conf={"inputs": source.as_uri(), "out": tmp_path.as_uri()})
    assert run.states["batch"] == "failed"
    assert "line 3 is not JSON" in capsys.readouterr().out
    assert fake_conn.chat_requests == []


def test_a_model_that_cannot_answer_is_skipped_for_the_rest_of_the_batch(fake_conn, capsys):
    fake_conn.model_faults = {"org/down": Fault.status(404, {"error": "Model org/down does not exist"})}
    task = operator(inputs=[f"f{i}" for i in range(20)], model="org/down", fallback_models=["org/up"])
    task.max_concurrency = 4
    result = task.execute(stub_context())
    assert result["succeeded"] == 20
    assert {r["model"] for r in result["results"]} == {"org/up"}
    asked = [r.body["model"] for r in fake_conn.chat_requests]
    assert asked.count("org/up") == 20
    assert asked.count("org/down") <= 4  # only the calls sent before the first 404 came back
    assert "Model org/down cannot answer: not found" in capsys.readouterr().out


def test_without_output_path_the_replies_go_to_the_xcom_object_storage_folder(
    fake_conn, run_dag, tmp_path, monkeypatch
):
    monkeypatch.setenv("AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH", tmp_path.as_uri())
    run = run_dag("hf_batch_strict", run_conf={"items": ["a", "b", "c"]})
    assert run.state == "success", run.states
    summary = run.xcom["batch"]
    assert "results" not in summary
    assert summary["output_path"].startswith(f"{tmp_path.as_uri()}/huggingface_batch/hf_batch_strict/")
    assert sorted(line["text"] for line in reply_lines(summary["output_path"])) == [
        "re: Item a",
        "re: Item b",
        "re: Item c",
    ]


def test_the_rendered_fields_show_the_templates_and_the_first_prompts_as_sent(fake_conn, run_dag):
    run = run_dag("hf_batch")
    assert run.state == "success", run.states
    fields = run.rendered_fields("batch")
    assert fields["user_prompt"] == "{{item.q}}: tell me about {{topic.name}} ({{task_id}})"  # as written
    assert fields["system_prompt"] == "Answer {{params.tone}}."
    sent = fields["prompts_sent"]
    assert len(sent) == 3  # the first inputs' messages, as each request carried them
    assert sent[0] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Nile: tell me about rivers (batch)"},
    ]
    assert [turns[1]["content"].split(":")[0] for turns in sent] == ["Nile", "Amazon", "Danube"]
