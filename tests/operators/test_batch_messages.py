"""``messages`` on the batch operator in a real DAG run against the fake: what each call sent."""

from __future__ import annotations

import pytest


@pytest.fixture
def fake_conn(fake_hf, use_connection):
    use_connection("hf_fake", host=fake_hf.url, password="hf_batchmessagescanary01")
    return fake_hf


def test_messages_are_rendered_per_input_and_upstream_ones_stay_data(fake_conn, run_dag, capsys):
    run = run_dag("hf_batch_messages")
    sent = sorted((r.body["messages"] for r in fake_conn.chat_requests), key=lambda m: m[-1]["content"])
    system = {"role": "system", "content": "Translate into French."}
    examples = [{"role": "user", "content": "house"}, {"role": "assistant", "content": "maison"}]
    assert sent == [
        [
            {"role": "user", "content": "data {{item}}"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "Now one"},
        ],
        [system, *examples, {"role": "user", "content": "cat"}],
        [system, *examples, {"role": "user", "content": "dog"}],
    ]
    assert run.states["few_shot"] == run.states["from_upstream"] == "success"
    assert run.xcom["few_shot"]["succeeded"] == 2
    assert run.states["bad_role"] == "failed"
    assert "messages[0] has the role 'robot'" in capsys.readouterr().out
