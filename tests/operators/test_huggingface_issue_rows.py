"""Block templates in a DAG run, for what only a run shows. Handlebars itself (each row of issue 9's
table, and the conformance corpus against handlebars.js) is tested in tests/prompts; here one prompt that
uses those rows together, over an upstream task's real XCom, from the worker and deferred: the request the
fake received, the rendered field Airflow stores, the XCom the task pushes."""

from __future__ import annotations

import json

import pytest

from tests.dag_runs import Run

# What handlebars.js 4.7 renders from tests/dags/hf_issue_rows.py's TEMPLATE and VALUES.
EXPECTED = "Items:\n- 1\n- 2\nY\nW:\n- a- b- c B 0:a 1:b 2:c \n[a][b]none spaced"
TASKS = ("worker", "deferred")


@pytest.fixture(scope="module")
def run(fake_hf_server, dagbag):
    """One run of the DAG, and each task's request as the fake received it."""
    fake_hf_server.reset()
    with pytest.MonkeyPatch.context() as patch:
        conn = {"conn_type": "huggingface", "host": fake_hf_server.url, "extra": {"max_retries": 0}}
        patch.setenv("AIRFLOW_CONN_HF_FAKE", json.dumps(conn))
        finished = Run(dagbag["hf_issue_rows"].test())
    requests = {r.body["messages"][0]["content"]: r.body for r in fake_hf_server.chat_requests}
    fake_hf_server.reset()
    assert finished.state == "success", finished.states
    return finished, requests


def test_the_prompt_sent_is_what_handlebars_renders(run):
    _, requests = run
    assert {task_id: body["messages"] for task_id, body in requests.items()} == {
        task_id: [{"role": "system", "content": task_id}, {"role": "user", "content": EXPECTED}]
        for task_id in TASKS
    }


def test_the_rendered_field_airflow_stores_is_the_prompt_sent(run):
    finished, _ = run
    for task_id in TASKS:
        assert finished.rendered_fields(task_id)["user_prompt"] == EXPECTED, task_id


def test_the_reply_is_pushed_as_the_tasks_xcom(run):
    finished, _ = run
    for task_id in TASKS:
        assert finished.xcom[task_id]["text"] == "Hello from the fake", task_id
