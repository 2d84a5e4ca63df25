"""HuggingFaceChatOperator in real DAG runs (dag.test(), metadata DB, XCom) against the local fake."""

from __future__ import annotations

import json

import pytest

from tests.airflow_internals import without_supervisor_echo

TOKEN = "hf_operatortestcanary00001"


@pytest.fixture
def fake_conn(fake_hf, use_connection):
    use_connection("hf_fake", host=fake_hf.url, password=TOKEN, extra={"max_retries": 2})
    return fake_hf


def test_prompts_are_rendered_from_real_xcoms(fake_conn, run_dag):
    fake_conn.reply = lambda body: f"reply to {body['messages'][-1]['content'][:12]}"
    run = run_dag("hf_templates", run_conf={"who": "Ada", "flag": True})
    assert run.state == "success", run.states
    first, second = fake_conn.chat_requests
    system, user = first.body["messages"]
    assert system["role"] == "system"
    assert system["content"].startswith("Run manual__")
    assert "of hf_templates, task chat." in system["content"]
    assert user["content"].splitlines() == [
        'data=Paris & <Lyon> "quoted"',
        "deep=42",
        "group=cleaned",
        "params=fr conf=Ada",
        'object={"k": "v", "n": [1, 2]}',
        "each=a@0;b@1;",
        "if=yes missing-in-if=none",
        "literal={{params.lang}}",
    ]
    assert first.body["model"] == "jinja/model"  # an ordinary Jinja field
    assert run.xcom["chat"] == {
        "text": "reply to data=Paris &",
        "model": "jinja/model",
        "finish_reason": "stop",
        "usage": run.xcom["chat"]["usage"],
    }
    assert set(run.xcom["chat"]["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    json.dumps(run.xcom["chat"])  # plain JSON
    assert second.body["messages"][-1]["content"].startswith(
        "Translate: reply to data=Paris & (finish stop, "
    )
    assert second.body["stream"] is True
    assert run.xcom["follow_up"]["text"].startswith("reply to Translate")


def test_conf_false_takes_the_else_branch(fake_conn, run_dag):
    run = run_dag("hf_templates", run_conf={"who": "Bob"})
    assert run.state == "success", run.states
    assert "if=no " in fake_conn.chat_requests[0].body["messages"][-1]["content"]


@pytest.mark.parametrize(
    ("dag_id", "words"),
    [
        ("hf_missing_path", ["httpRequest.dta", "data"]),
        ("hf_bad_template", ["#if", "line 1"]),
        ("hf_bad_setting", ["temperature=7", "from 0 to 2"]),
    ],
)
def test_bad_prompts_and_settings_fail_before_any_request(fake_conn, run_dag, capsys, dag_id, words):
    run = run_dag(dag_id)
    assert run.state == "failed"
    assert run.states["chat"] == "failed"  # not up_for_retry: Airflow's retries cannot fix it
    log = capsys.readouterr().out
    for word in words:
        assert word in log
    assert fake_conn.chat_requests == []


def test_a_rejected_token_fails_the_task_for_good_with_guidance(fake_conn, run_dag, capsys):
    fake_conn.valid_tokens = {"hf_someoneelse"}
    run = run_dag("hf_unauthorized")
    assert run.states["chat"] == "failed"
    log = without_supervisor_echo(capsys.readouterr().out)
    assert "Invalid API key" in log
    assert "https://huggingface.co/settings/tokens" in log
    assert len(fake_conn.chat_requests) == 1
    assert TOKEN not in log


def test_dynamic_task_mapping(fake_conn, run_dag):
    fake_conn.reply = lambda body: body["messages"][-1]["content"].upper()
    run = run_dag("hf_mapped")
    assert run.state == "success", run.states
    assert run.xcom["collect"] == ["ONE: {{TOPIC.NAME}}", "TWO: {{TOPIC.NAME}}", "THREE: {{TOPIC.NAME}}"]
    # Mapped prompts come from an upstream task: data, sent as they are, never rendered.
    assert sorted(r.body["messages"][-1]["content"] for r in fake_conn.chat_requests) == [
        "One: {{topic.name}}",
        "Three: {{topic.name}}",
        "Two: {{topic.name}}",
    ]


def test_example_dag_of_the_user_guide(fake_hf, use_connection, run_dag):
    use_connection("huggingface_default", host=fake_hf.url)
    fake_hf.reply = lambda body: f"[{body['messages'][-1]['content'][:20]}]"
    run = run_dag("example_huggingface_chat")
    assert run.state == "success", run.states
    summary, translation = fake_hf.chat_requests
    assert summary.body["messages"] == [
        {
            "role": "user",
            "content": "Summarize this text in three sentences: " + run.xcom["httpRequest"]["data"],
        }
    ]
    assert translation.body["messages"][0]["role"] == "system"
    assert (
        translation.body["messages"][1]["content"]
        == f"Translate into French: {run.xcom['summarize']['text']}"
    )
    assert run.xcom["translate"]["text"] == "[Translate into Frenc]"


def test_example_mapped_dag(fake_hf, use_connection, run_dag):
    use_connection("huggingface_default", host=fake_hf.url)
    run = run_dag("example_huggingface_mapped")
    assert run.state == "success", run.states
    assert run.xcom["collect"] == ["Hello from the fake"] * 3
