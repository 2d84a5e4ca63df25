"""HuggingFaceAgentOperator and @task.huggingface_agent in real DAG runs (dag.test(), metadata DB,
XCom) against the local fake, reading the request bodies it received."""

from __future__ import annotations

import json

import pytest

from airflow_provider_huggingface.agents.tools import Tool
from airflow_provider_huggingface.exceptions import ConfigurationError
from tests.airflow_internals import without_supervisor_echo
from tests.dags.hf_agent import TOOLS, lookup_order, refund
from tests.fakes.tool_calls import turns

TOKEN = "hf_agenttestcanary0000001"


@pytest.fixture
def fake_conn(fake_hf, use_connection):
    use_connection("hf_fake", host=fake_hf.url, password=TOKEN, extra={"max_retries": 1})
    return fake_hf


def agent_bodies(fake) -> list[dict]:
    return [r.body for r in fake.chat_requests if r.body.get("tools")]


def lookup(order_id: int, call_id: str | None = None) -> dict:
    call = {"name": "lookup_order", "arguments": {"order_id": order_id}}
    return call if call_id is None else {**call, "id": call_id}


def test_the_tools_are_sent_with_schemas_read_from_the_functions(fake_conn, run_dag):
    fake_conn.reply = turns("No tool needed.")
    run = run_dag("hf_agent")
    assert run.states["agent"] == "success", run.states
    (body,) = agent_bodies(fake_conn)
    assert body["tools"] == [Tool.from_function(f).spec() for f in TOOLS]
    refund_schema = body["tools"][1]["function"]
    assert refund_schema["description"] == "Refund an order. Irreversible."
    assert refund_schema["parameters"]["properties"]["reason"]["enum"] == ["damaged", "late", "other"]
    assert refund_schema["parameters"]["required"] == ["order_id", "amount"]
    assert "tool_choice" not in body


def test_a_two_tool_loop_answers_and_later_tasks_read_its_text(fake_conn, run_dag, tmp_path, monkeypatch):
    effects = tmp_path / "effects.jsonl"
    monkeypatch.setenv("HF_AGENT_SIDE_EFFECTS", str(effects))
    fake_conn.reply = turns(
        {"tool_calls": [lookup(7, "c1")]},
        {
            "tool_calls": [
                {"name": "refund", "arguments": {"order_id": 7, "amount": 89.5, "reason": "damaged"}}
            ]
        },
        "Your refund of 89.50 is on its way.",
    )
    run = run_dag("hf_agent")
    assert run.state == "success", run.states
    result = run.xcom["agent"]
    assert set(result) == {"text", "steps", "model", "usage"}
    assert result["text"] == "Your refund of 89.50 is on its way."
    assert [(s["tool"], s["arguments"]) for s in result["steps"]] == [
        ("lookup_order", {"order_id": 7}),
        ("refund", {"order_id": 7, "amount": 89.5, "reason": "damaged"}),
    ]
    assert json.loads(result["steps"][0]["result"]) == {
        "order_id": 7,
        "item": "Grinder",
        "total": 89.5,
        "status": "damaged",
    }
    assert effects.read_text().splitlines() == ['{"order_id": 7, "amount": 89.5}']
    *_, third = agent_bodies(fake_conn)
    assert [m["role"] for m in third["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
    ]
    assert third["messages"][0]["content"] == "You are the order desk of hf_agent."
    assert third["messages"][2]["tool_calls"][0]["id"] == "c1"
    assert third["messages"][3]["tool_call_id"] == "c1"
    assert third["messages"][5]["tool_call_id"] == third["messages"][4]["tool_calls"][0]["id"]
    assert result["usage"]["total_tokens"] > 0
    assert result["model"] == "fake-model"
    reply = [r.body for r in fake_conn.chat_requests if not r.body.get("tools")]
    assert reply[0]["messages"][-1]["content"] == "Write to the customer: Your refund of 89.50 is on its way."


def test_parallel_calls_of_one_reply_run_in_order(fake_conn, run_dag):
    fake_conn.reply = turns({"tool_calls": [lookup(7), lookup(8)]}, "Found both.")
    run = run_dag("hf_agent")
    assert [s["arguments"]["order_id"] for s in run.xcom["agent"]["steps"]] == [7, 8]
    _, second = agent_bodies(fake_conn)
    calls = second["messages"][2]["tool_calls"]
    assert [m["tool_call_id"] for m in second["messages"][3:]] == [c["id"] for c in calls]


def test_a_tool_error_goes_back_to_the_model_which_recovers(fake_conn, run_dag):
    fake_conn.reply = turns({"tool_calls": [lookup(99)]}, {"tool_calls": [lookup(7)]}, "Found order 7.")
    run = run_dag("hf_agent")
    assert run.states["agent"] == "success", run.states
    steps = run.xcom["agent"]["steps"]
    assert "KeyError: 'no order 99'" in steps[0]["result"]
    assert json.loads(steps[1]["result"])["order_id"] == 7
    assert "no order 99" in agent_bodies(fake_conn)[1]["messages"][3]["content"]


def test_an_unknown_tool_and_bad_json_arguments_go_back_to_the_model(fake_conn, run_dag):
    fake_conn.reply = turns(
        {
            "tool_calls": [
                {"name": "teleport", "arguments": {}},
                {"name": "refund", "arguments": '{"order_id": 7'},
            ]
        },
        "Sorry.",
    )
    run = run_dag("hf_agent")
    assert run.states["agent"] == "success", run.states
    unknown, bad = run.xcom["agent"]["steps"]
    assert "there is no tool named 'teleport'" in unknown["result"]
    assert "lookup_order, refund" in unknown["result"]
    assert "not valid JSON" in bad["result"]


def test_arguments_sent_as_an_object_are_read_too(fake_conn, run_dag):
    fake_conn.tool_arguments_as_object = True  # as TGI sends them
    fake_conn.reply = turns({"tool_calls": [lookup(8)]}, "Kettle.")
    run = run_dag("hf_agent")
    assert run.xcom["agent"]["steps"][0]["arguments"] == {"order_id": 8}
    sent_back = agent_bodies(fake_conn)[1]["messages"][2]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(sent_back) == {"order_id": 8}  # sent back as JSON text, the OpenAI format


def test_max_steps_fails_the_task_naming_it_and_the_tools(fake_conn, run_dag, capsys):
    fake_conn.reply = turns({"tool_calls": [lookup(7)]})  # never stops calling
    run = run_dag("hf_agent_short")
    assert run.states["agent"] == "failed"
    assert len(agent_bodies(fake_conn)) == 2
    log = without_supervisor_echo(capsys.readouterr().out)
    assert "within max_steps=2 model turns" in log
    assert "Tools called: lookup_order x1" in log


def test_max_calls_bounds_the_turns(fake_conn, run_dag, capsys):
    fake_conn.reply = turns({"tool_calls": [lookup(7)]})
    run = run_dag("hf_agent_budget")
    assert run.states["agent"] == "failed"
    assert len(agent_bodies(fake_conn)) == 2
    assert "max_calls=2 requests made" in capsys.readouterr().out


def test_max_total_tokens_stops_the_next_turn(fake_conn, run_dag, capsys):
    fake_conn.reply = turns({"tool_calls": [lookup(7)]})
    run = run_dag("hf_agent_tokens")
    assert run.states["agent"] == "failed"
    sent = len(agent_bodies(fake_conn))
    assert 1 <= sent < 5
    assert "tokens used of max_total_tokens=30" in capsys.readouterr().out


def test_a_forced_tool_choice_is_sent_as_the_function(fake_conn, run_dag):
    fake_conn.reply = turns("ok")
    run_dag("hf_agent_forced")
    (body,) = agent_bodies(fake_conn)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "lookup_order"}}


def test_the_decorator_runs_the_agent_on_the_prompt_its_function_returns(fake_conn, run_dag):
    fake_conn.reply = turns({"tool_calls": [lookup(7)]}, "Done.")
    run = run_dag("hf_agent_decorated")
    assert run.states["handle"] == "success", run.states
    assert run.xcom["handle"]["text"] == "Done."
    first = agent_bodies(fake_conn)[0]
    assert first["messages"][-1]["content"] == "Order 7: It came broken {{twice}}."  # data, not a template


def test_a_deferred_agent_runs_each_turn_in_the_triggerer(fake_conn, run_dag, capsys):
    fake_conn.reply = turns({"tool_calls": [lookup(7)]}, {"tool_calls": [lookup(8)]}, "Two orders.")
    run = run_dag("hf_agent_deferred")
    assert run.states["agent"] == "success", run.states
    assert run.xcom["agent"]["text"] == "Two orders."
    assert len(agent_bodies(fake_conn)) == 3  # one request per turn: none paid twice across deferrals
    log = without_supervisor_echo(capsys.readouterr().out)
    assert log.count("Deferring the agent's turn to the triggerer") == 3


@pytest.mark.parametrize(("server", "status"), [("llama.cpp", 500), ("vllm", 400)])
def test_a_server_without_tool_calling_fails_at_once_saying_what_to_pick(
    fake_conn, run_dag, capsys, server, status
):
    fake_conn.refuse_tools = server
    run = run_dag("hf_agent_short")
    assert run.states["agent"] == "failed"
    assert len(agent_bodies(fake_conn)) == 1  # no retry cures a missing feature
    log = without_supervisor_echo(capsys.readouterr().out)
    assert "ToolCallingNotSupportedError" in log
    assert "does not serve tool calling" in log
    assert "--jinja" in log


def test_the_token_is_in_no_tool_message_xcom_or_log(fake_conn, run_dag, capsys):
    # A tool that echoes what it is given: the model asks it to echo the token.
    fake_conn.reply = turns(
        {"tool_calls": [{"name": "refund", "arguments": {"order_id": 7, "amount": 1.0, "reason": "other"}}]},
        f"The token is {TOKEN}.",
    )
    run = run_dag("hf_agent")
    dumped = json.dumps(run.xcom)
    assert TOKEN not in dumped
    assert TOKEN not in without_supervisor_echo(capsys.readouterr().out)
    for body in agent_bodies(fake_conn):
        assert TOKEN not in json.dumps([m for m in body["messages"] if m["role"] == "tool"])


def test_tools_that_cannot_be_described_are_refused_when_the_dag_is_parsed():
    from airflow_provider_huggingface.operators.agent import HuggingFaceAgentOperator

    def undescribed(order):  # no type annotation: nothing to tell the model
        """Look something up."""
        return order

    with pytest.raises(ConfigurationError, match="'order'"):
        HuggingFaceAgentOperator(task_id="a", user_prompt="x", tools=[undescribed])
    with pytest.raises(ConfigurationError, match="require_approval names refunds"):
        HuggingFaceAgentOperator(
            task_id="b", user_prompt="x", tools=[lookup_order, refund], require_approval=["refunds"]
        )


class Parked(Exception):
    """Stands for the task parking to wait for a person (``review.ask`` never returns)."""


def test_a_review_says_what_it_is_about_in_the_log_without_the_token(fake_conn, monkeypatch, capsys):
    # Airflow keeps one request per task instance, worded for any step: the log and the XCom
    # pending_review say which step waits. dag.test() cannot answer a review, so ask() is stood in for.
    from airflow_provider_huggingface.agents import review
    from airflow_provider_huggingface.agents.journal import Journal
    from airflow_provider_huggingface.agents.loop import Review
    from airflow_provider_huggingface.agents.tools import prepare, resolve_tools
    from airflow_provider_huggingface.operators.agent import HuggingFaceAgentOperator

    asked: list[Review] = []

    def ask(context, step, **kwargs):
        asked.append(step)
        raise Parked

    monkeypatch.setattr(review, "ask", ask)
    agent = HuggingFaceAgentOperator(
        task_id="desk", hf_conn_id="hf_fake", user_prompt="x", tools=TOOLS, require_approval=True
    )
    call = prepare(
        resolve_tools(TOOLS),
        {"id": "c1", "function": {"name": "refund", "arguments": {"order_id": 7, "amount": 2.5}}},
    )
    for step in (Review(key="c1", call=call), Review(key="answer", text=f"Done; the token is {TOKEN}.")):
        with pytest.raises(Parked):
            agent._perform(step, {}, None, Journal())
    log = capsys.readouterr().out
    assert "Waiting for a person's review of refund with {'order_id': 7, 'amount': 2.5}." in log
    assert "Waiting for a person's review of the answer: Done; the token is" in log
    assert TOKEN not in log
    assert asked[0].call is call
    assert TOKEN not in asked[1].text  # what the XCom pending_review shows
    assert asked[1].text.startswith("Done; the token is ")


def test_a_deferred_agent_carries_its_calls_to_the_task_that_resumes(fake_conn):
    """As a triggerer resumes a task: the event added to the deferral's ``next_kwargs``, each time on a
    fresh operator. ``dag.test()`` keeps only the event, so this is driven by hand. The lineage of the
    task that finishes counts every turn of the try, each sent once in a triggerer."""
    import asyncio
    from types import SimpleNamespace

    from airflow_provider_huggingface._internal.airflow_compat import TaskDeferred
    from airflow_provider_huggingface.operators.agent import HuggingFaceAgentOperator

    fake_conn.reply = turns({"tool_calls": [lookup(7)]}, {"tool_calls": [lookup(8)]}, "Two orders.")

    def fresh() -> HuggingFaceAgentOperator:
        return HuggingFaceAgentOperator(
            task_id="agent", hf_conn_id="hf_fake", user_prompt="Ticket", tools=TOOLS, deferrable=True
        )

    async def event_of(trigger):
        async for event in trigger.run():
            return event.payload

    ti = SimpleNamespace(dag_id="d", task_id="agent", map_index=-1, xcom_push=lambda **_: None)
    context = {"ti": ti, "dag": SimpleNamespace(task_ids=["agent"]), "run_id": "manual__1"}
    with pytest.raises(TaskDeferred) as deferred:
        fresh().execute(context)
    for _turn in range(3):
        task, pending = fresh(), deferred.value
        try:
            result = task.execute_complete(
                context, event=asyncio.run(event_of(pending.trigger)), **(pending.kwargs or {})
            )
            break
        except TaskDeferred as again:
            deferred = pytest.ExceptionInfo.from_exception(again)
    assert result["text"] == "Two orders."
    facts = task.lineage_facts
    bodies = agent_bodies(fake_conn)
    assert len(bodies) == 3
    assert (facts.calls, facts.failed_calls) == (3, 0)
    assert facts.input_tokens == sum(
        len(" ".join(str(m.get("content") or "") for m in b["messages"]).split()) for b in bodies
    )
    assert facts.models_used == ["fake-model"]  # the endpoint's own model answered
