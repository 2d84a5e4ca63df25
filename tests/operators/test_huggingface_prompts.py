"""The prompts a chat task sends, proven on the request bodies the local fake received:
data is never code, and the final prompts are stored as the task's rendered template fields."""

from __future__ import annotations

import uuid

import pytest

from tests.airflow_internals import stored_template_field
from tests.dags.hf_data_not_code import DATA

TOKEN = "hf_promptstestcanary000001"


@pytest.fixture
def fake_conn(fake_hf, use_connection):
    use_connection("hf_fake", host=fake_hf.url, password=TOKEN, extra={"max_retries": 0})
    return fake_hf


def _messages(fake, tag: str) -> list[dict[str, str]]:
    """The messages of every request whose user or system message starts with ``tag``."""
    return [
        message
        for request in fake.chat_requests
        if any(m["content"].startswith(tag) for m in request.body["messages"])
        for message in request.body["messages"]
    ]


def test_run_time_values_reach_the_model_as_they_are(fake_conn, run_dag):
    run = run_dag("hf_data_not_code", run_conf={"text": "{{params.secret_note}} {{ .Values.image }}"})
    assert run.state == "success", run.states
    everything = " ".join(m["content"] for r in fake_conn.chat_requests for m in r.body["messages"])
    assert "1234" not in everything  # the secret param was never rendered into any prompt

    for tag in ("expand_user", "batch", "decorated", "group_arg"):
        users = sorted(m["content"] for m in _messages(fake_conn, tag) if m["role"] == "user")
        assert users == sorted(f"{tag}: {text}" for text in DATA), tag
    # .expand(system_prompt=...): the mapped system prompt is data, the partial user prompt a template
    system = _messages(fake_conn, "expand_system")
    assert sorted(m["content"] for m in system if m["role"] == "system") == sorted(
        f"expand_system: {text}" for text in DATA
    )
    assert {m["content"] for m in system if m["role"] == "user"} == {"expand_system: run hf_data_not_code"}
    kwargs = _messages(fake_conn, "expand_kwargs")
    assert sorted((m["role"], m["content"]) for m in kwargs) == sorted(
        [("user", f"expand_kwargs: {text}") for text in DATA] + [("system", f"sys {text}") for text in DATA]
    )
    assert [m["content"] for m in _messages(fake_conn, "xcom_arg")] == ["xcom_arg: " + " ".join(DATA)]
    assert [m["content"] for m in _messages(fake_conn, "inserted")] == [
        f"inserted: {' '.join(DATA)} | conf {{{{params.secret_note}}}} {{{{ .Values.image }}}} "
        "| param {{ds}} {{params.secret_note}}"
    ]
    batch_system = [m["content"] for m in _messages(fake_conn, "batch system") if m["role"] == "system"]
    assert sorted(batch_system) == sorted(f"batch system batch: {text}" for text in DATA)
    # What the UI shows for a mapped instance is what it sent: the data, as it is.
    shown = {run.rendered_fields("expand_user", i)["user_prompt"] for i in range(3)}
    assert shown == {f"expand_user: {text}" for text in DATA}
    # A list written out in .expand() in the DAG file is text of the DAG file: a template.
    assert [m["content"] for m in _messages(fake_conn, "expand_literal")] == [
        "expand_literal: run of hf_data_not_code"
    ]


def test_the_prompts_sent_are_the_stored_rendered_fields(fake_hf, use_connection, run_dag):
    # A token no earlier task registered with the masker: the rendering step itself must.
    token = f"hf_rendered{uuid.uuid4().hex}"
    use_connection("hf_fake", host=fake_hf.url, password=token)
    run = run_dag("hf_rendered", run_conf={"pasted": f"my token is {token}"})
    assert run.state == "success", run.states
    system, user = fake_hf.chat_requests[0].body["messages"]
    assert user["content"] == "Summarize: " + "The quarterly report. " * 20 + f"| pasted: my token is {token}"
    fields = run.rendered_fields("chat")
    assert fields["system_prompt"] == system["content"] == "You write for Ada."
    # The final prompt, with the token masked the way Airflow masks secrets.
    assert fields["user_prompt"] == user["content"].replace(token, "***")
    assert fields["hf_conn_id"] == "hf_fake"  # the Jinja fields stay as Airflow renders them


def test_a_long_prompt_is_stored_truncated_as_airflow_truncates(fake_conn, run_dag, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__MAX_TEMPLATED_FIELD_LENGTH", "200")
    run = run_dag("hf_rendered", run_conf={"pasted": "nothing"})
    assert run.state == "success", run.states
    sent = fake_conn.chat_requests[0].body["messages"][-1]["content"]
    assert len(sent) > 400  # the model got all of it
    stored = run.rendered_fields("chat")["user_prompt"]
    assert "Truncated" in stored
    assert "max_templated_field_length" in stored
    assert "Summarize: The quarterly report." in stored
    # Exactly what this Airflow line stores for that prompt (3.1 quotes the kept part, 3.2+ does not).
    assert stored == stored_template_field(sent, "user_prompt")
