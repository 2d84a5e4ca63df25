"""What a prompt can name, proven in real DAG runs: task ids with dots and dashes, ambiguity,
mapped task groups, scope names, logical_date."""

from __future__ import annotations

import pytest

from airflow_provider_huggingface.exceptions import PromptTemplateError
from airflow_provider_huggingface.prompts.renderer import render_prompt
from airflow_provider_huggingface.prompts.scope import PromptScope, prompt_scope
from airflow_provider_huggingface.prompts.syntax import TemplateProblem


@pytest.fixture
def fake_conn(fake_hf, use_connection):
    use_connection("hf_fake", host=fake_hf.url, extra={"max_retries": 0})
    return fake_hf


def test_each_instance_of_a_mapped_group_sees_its_own_index(fake_conn, run_dag):
    fake_conn.reply = lambda body: "summary of " + body["messages"][-1]["content"].split(": ")[1].lower()
    run = run_dag("hf_mapped_group")
    assert run.state == "success", run.states
    sent = sorted(r.body["messages"][-1]["content"] for r in fake_conn.chat_requests[:3])
    assert sent == [
        "Summarize: THE DESERT CENSUS",
        "Summarize: THE MOUNTAIN SURVEY",
        "Summarize: THE RIVER REPORT",
    ]
    assert [run.xcom[f"per_doc.summarize[{i}]"]["text"] for i in range(3)] == [
        "summary of the river report",
        "summary of the mountain survey",
        "summary of the desert census",
    ]
    # Outside the group, a task of the group is the list of all its instances' values, in order.
    assert fake_conn.chat_requests[3].body["messages"][-1]["content"] == (
        "Combine: [summary of the river report][summary of the mountain survey][summary of the desert census]"
        ' from [{"data": "THE RIVER REPORT"}, {"data": "THE MOUNTAIN SURVEY"}, {"data": "THE DESERT CENSUS"}]'
    )


def test_task_ids_with_dots_and_dashes_and_an_ambiguous_path(fake_conn, run_dag, capsys):
    run = run_dag("hf_task_ids", run_conf={"who": "the run"})
    assert run.states["named"] == "success", run.states
    (request,) = fake_conn.chat_requests
    sent = request.body["messages"][-1]["content"]
    year = sent.split("year=")[1][:4]  # {{logical_date.year}}: the date's own attribute
    assert year.isdigit()
    assert int(year) >= 2024
    assert sent == (
        "data=plain fetch dotted=the dotted task dashed=dashed bracket=dashed key=spaced "
        f"own=fetch's own v2 key year={year} conf=the run"
    )
    log = capsys.readouterr().out
    # A task named like a scope name: the scope name wins, and the log says so.
    assert "named 'conf', which is also a template scope name" in log
    # Two task ids fit {{fetch.v2.text}}: refused before any call, naming both and how to write each.
    assert run.states["ambiguous"] == "failed"
    assert (
        "user_prompt: {{fetch.v2.text}} could name task 'fetch' or task 'fetch.v2', since task ids may "
        "hold dots. Say which: {{#with [fetch]}}{{v2.text}}{{/with}} for task 'fetch'; "
        "{{[fetch.v2].text}} for task 'fetch.v2'." in log
    )


def _scope(**tasks):
    return PromptScope({"params": {"x": 1}}, list(tasks), tasks.__getitem__)


def test_resolution_rules():
    scope = _scope(
        **{"fetch": {"data": 1, "v2": {"text": "own"}}, "fetch.v2": {"text": "dotted"}, "g.a.b": 3}
    )
    assert render_prompt("{{fetch.data}} {{[fetch.v2].text}} {{g.a.b}} {{g}} {{params.x}}", scope) == (
        '1 dotted 3 {"a": {"b": 3}} 1'
    )
    assert render_prompt("{{#with [fetch]}}{{v2.text}}{{/with}}", scope) == "own"
    with pytest.raises(TemplateProblem, match=r"could name task 'fetch' or task 'fetch\.v2'"):
        scope.resolve_path(("fetch", "v2"))
    assert scope.resolve_path(("nothing",)) == (0, scope)
    assert list(scope) == ["params", "fetch", "fetch.v2", "g.a.b"]  # as error messages list them


def test_a_task_is_pulled_once_and_only_when_named():
    pulled = []
    scope = PromptScope({}, ["a", "b"], lambda task_id: pulled.append(task_id) or {"v": task_id})
    assert render_prompt("{{a.v}}{{a.v}}", scope) == "aa"
    assert pulled == ["a"]


def test_a_batch_item_is_laid_over_a_shared_scope():
    pulled = []
    base = PromptScope({"item": None}, ["fetch.v2"], lambda task_id: pulled.append(task_id) or {"t": "x"})
    one, two = base.with_values(item={"q": 1}), base.with_values(item={"q": 2})
    assert render_prompt("{{item.q}} {{[fetch.v2].t}}", one) == "1 x"
    assert render_prompt("{{item.q}} {{[fetch.v2].t}}", two) == "2 x"
    assert pulled == ["fetch.v2"]  # pulled once for all items
    assert base["item"] is None


def test_outside_a_running_task_an_xcom_is_refused_with_why():
    from types import SimpleNamespace

    def no_supervisor(**_):  # what Airflow 3's XCom read raises in `airflow tasks render`
        raise ImportError("cannot import name 'SUPERVISOR_COMMS'")

    ti = SimpleNamespace(dag_id="d", task_id="chat", map_index=-1, xcom_pull=no_supervisor)
    scope = prompt_scope({"ti": ti, "dag": SimpleNamespace(task_ids=["chat", "fetch"])})
    with pytest.raises(PromptTemplateError, match=r"the value of task 'fetch' can be read only while"):
        render_prompt("{{fetch.text}}", scope)
