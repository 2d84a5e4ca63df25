"""What a batch keeps for its next try, as a demanding user meets it: a stored reply is reused only for
the same request, a reply is never lost to a value that cannot be written, and without output_path
the task state store (Airflow 3.3+) keeps the replies for a retry. Against the local fake."""

from __future__ import annotations

import json

import pytest

from airflow_provider_huggingface.exceptions import ConfigurationError
from tests.batch.stubs import operator, stub_context
from tests.fakes.hf_api import Fault

TOKEN = "hf_batchresumecanary00001"


@pytest.fixture
def fake_conn(fake_hf, use_connection):
    use_connection("hf_fake", host=fake_hf.url, password=TOKEN, extra={"max_retries": 0})
    fake_hf.reply = lambda body: f"re: {body['messages'][-1]['content']}"
    return fake_hf


def test_a_rerun_after_the_prompt_was_edited_asks_again(fake_conn, tmp_path):
    task = operator(
        inputs=["a", "b", "c"], user_prompt="Say {{item}}", output_path=tmp_path.as_uri(), max_concurrency=1
    )
    first = task.execute(stub_context())
    assert first["reused"] == 0
    # The same run cleared and run again after the prompt was fixed: the file is the same one.
    task.user_prompt = "Spell {{item}}"
    second = task.execute(stub_context())
    assert (second["succeeded"], second["reused"]) == (3, 0)
    asked = [r.body["messages"][-1]["content"] for r in fake_conn.chat_requests]
    assert asked[3:] == ["Spell a", "Spell b", "Spell c"]
    lines = [json.loads(line) for line in (tmp_path / "d/r/batch.jsonl").open()]
    assert sorted(line["text"] for line in lines) == ["re: Spell a", "re: Spell b", "re: Spell c"]
    # Run again unchanged: now every answer is the same request's, and reused.
    third = task.execute(stub_context())
    assert (third["reused"], len(fake_conn.chat_requests)) == (3, 6)


def test_a_changed_setting_is_a_new_request_too(fake_conn, tmp_path):
    task = operator(inputs=["a"], output_path=tmp_path.as_uri())
    task.execute(stub_context())
    task.temperature = 0.2
    assert task.execute(stub_context())["reused"] == 0
    assert fake_conn.chat_requests[-1].body["temperature"] == 0.2


def test_an_input_that_cannot_be_written_fails_before_any_call(fake_conn, tmp_path):
    # A lone surrogate in a field the prompt does not even use: the output line could not hold it.
    task = operator(
        inputs=[{"text": "fine", "junk": "x\ud83dy"}, {"text": "also fine", "junk": ""}],
        user_prompt="{{item.text}}",
        output_path=tmp_path.as_uri(),
    )
    with pytest.raises(ConfigurationError, match=r"inputs\[0\].*not valid Unicode.*surrogate"):
        task.execute(stub_context())
    assert fake_conn.chat_requests == []


def test_a_reply_holding_a_lone_surrogate_is_written_and_read_back(fake_conn, tmp_path):
    # A server may escape a lone surrogate in its JSON: the reply is paid for and must reach the file.
    fake_conn.reply = lambda body: "half an emoji: \ud83d"
    task = operator(inputs=["a", "b"], output_path=tmp_path.as_uri())
    assert task.execute(stub_context())["succeeded"] == 2
    path = tmp_path / "d/r/batch.jsonl"
    assert [json.loads(line)["text"] for line in path.open()] == ["half an emoji: \ud83d"] * 2
    assert task.execute(stub_context())["reused"] == 2  # a retry reads them back, and pays nothing
    assert len(fake_conn.chat_requests) == 2


def test_without_output_path_a_retry_resumes_from_the_task_state_store(fake_conn, run_dag, capsys):
    from airflow import __version__ as airflow_version
    from packaging.version import Version

    # Item "c" fails on the first try only: the task fails, and its retry sends what is missing.
    failed_once = []

    def plan(n, body):
        if body["messages"][-1]["content"] == "c" and not failed_once:
            failed_once.append(n)
            return Fault.status(500)  # transient: Airflow retries the task
        return None

    fake_conn.fault_plan = plan
    run = run_dag("hf_batch_retried", run_conf={"items": ["a", "b", "c", "d"]})
    assert run.state == "success", run.states
    assert [r["text"] for r in run.xcom["batch"]["results"]] == ["re: a", "re: b", "re: c", "re: d"]
    asked = [r.body["messages"][-1]["content"] for r in fake_conn.chat_requests]
    log = capsys.readouterr().out
    if Version(airflow_version).release >= (3, 3):
        # Try 1 answers a and b, then stops on c (d is not sent); try 2 sends c and d alone.
        assert asked == ["a", "b", "c", "c", "d"]
        assert run.xcom["batch"]["reused"] == 2
        assert "2 of 4 items were answered by an earlier try and are reused from the task state store" in log
    else:  # no task state store: the log says a retry starts over, and it does
        assert asked == ["a", "b", "c", "a", "b", "c", "d"]
        assert "Replies go to XCom only: a retry of this task would send every item again" in log
