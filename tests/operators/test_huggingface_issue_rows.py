"""Each rendering row of issue 9's table in a real DAG run: the request body the fake received
holds what Handlebars 4 renders (outputs checked against handlebars.js 4.7)."""

from __future__ import annotations

import json

import pytest

from tests.dags.hf_issue_rows import ROWS


@pytest.fixture(scope="module")
def sent(fake_hf_server, dagbag):
    """One run of the DAG: each task id and the user message its request carried (None: none sent)."""
    fake_hf_server.reset()
    with pytest.MonkeyPatch.context() as patch:
        conn = {"conn_type": "huggingface", "host": fake_hf_server.url, "extra": {"max_retries": 0}}
        patch.setenv("AIRFLOW_CONN_HF_FAKE", json.dumps(conn))
        dagbag["hf_issue_rows"].test()
    bodies = {
        messages[0]["content"]: messages[1]["content"]
        for messages in (r.body["messages"] for r in fake_hf_server.chat_requests)
    }
    fake_hf_server.reset()
    return {task_id: bodies.get(task_id) for task_id in ROWS}


@pytest.mark.parametrize("task_id", list(ROWS))
def test_the_prompt_sent_is_what_handlebars_renders(sent, task_id):
    _, expected = ROWS[task_id]
    assert sent[task_id] == expected
