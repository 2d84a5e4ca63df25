"""The agent's loop as steps, driven here by a scripted model: the conversation it builds, its tools,
its journal and its reviews. The operator's runs against real HTTP are in tests/operators/test_agent.py."""

from __future__ import annotations

import json

import pytest

from airflow_provider_huggingface._internal.budget import Budget
from airflow_provider_huggingface._internal.chat import ChatRequest
from airflow_provider_huggingface._internal.chat_flow import Ask, ChatSession
from airflow_provider_huggingface._internal.fallback import ModelFallback
from airflow_provider_huggingface._internal.retry import RetryPolicy
from airflow_provider_huggingface._internal.steps import drive
from airflow_provider_huggingface.agents.journal import Journal
from airflow_provider_huggingface.agents.loop import AgentPlan, Decision, Review, RunTool, agent_steps
from airflow_provider_huggingface.agents.tools import resolve_tools, run
from airflow_provider_huggingface.exceptions import (
    AgentStepsExceededError,
    HuggingFaceError,
    ToolCallingNotSupportedError,
)

SIDE_EFFECTS: list[tuple] = []


def lookup_order(order_id: int) -> dict:
    """Look an order up.

    :param order_id: the order's number.
    """
    return {"order_id": order_id, "total": 89.5}


def refund(order_id: int, amount: float) -> str:
    """Refund an order.

    :param order_id: the order's number.
    :param amount: how much.
    """
    SIDE_EFFECTS.append(("refund", order_id, amount))
    return f"refunded {amount}"


def broken(reason: str) -> str:
    """Always fails.

    :param reason: anything.
    """
    raise RuntimeError(f"cannot: {reason}")


TOOLS = resolve_tools([lookup_order, refund, broken])


class Backend:
    """What the chat steps need of a connection, without one."""

    retry_policy = RetryPolicy(max_retries=0)

    def map_error(self, error, model=None, task="conversational"):
        return error if isinstance(error, HuggingFaceError) else HuggingFaceError(str(error))

    def validate_model(self, request):
        pass

    def route_lookup(self, model, task="conversational"):
        return None


def call(name: str, call_id: str, **arguments) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def reply(text: str = "", *calls: dict) -> dict:
    result = {"text": text, "model": "m", "finish_reason": "tool_calls" if calls else "stop"}
    result["usage"] = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
    if calls:
        result["tool_calls"] = list(calls)
    return result


class Model:
    """Answers each turn from a script, recording what it was sent; runs tools and answers reviews."""

    def __init__(self, *replies: dict, decisions: dict | None = None) -> None:
        self.replies = list(replies)
        self.sent: list[ChatRequest] = []
        self.ran: list[str] = []
        self.decisions = decisions or {}
        self.crash_at_turn: int | None = None

    def __call__(self, step):
        if isinstance(step, Ask):
            if self.crash_at_turn is not None and len(self.sent) + 1 == self.crash_at_turn:
                raise KeyboardInterrupt("the worker died")  # a BaseException: nothing handles it
            self.sent.append(step.request)
            return self.replies[len(self.sent) - 1]
        if isinstance(step, RunTool):
            self.ran.append(step.prepared.name)
            return run(step.prepared, arguments=step.arguments)
        if isinstance(step, Review):
            return self.decisions[step.key]
        raise AssertionError(step)


def request() -> ChatRequest:
    messages = [{"role": "system", "content": "Be a support agent."}, {"role": "user", "content": "Order 7?"}]
    return ChatRequest(where="http://server", model="m", messages=messages, generation={"max_tokens": 50})


def session(**budget) -> ChatSession:
    import logging

    log = logging.getLogger("test.agent")
    return ChatSession(fallback=ModelFallback(["m"]), budget=Budget(**budget), log=log)


def plan(max_steps: int = 5, approve: tuple[str, ...] = (), review_output: bool = False) -> AgentPlan:
    return AgentPlan(
        tools=TOOLS,
        max_steps=max_steps,
        needs_approval=lambda name: name in approve,
        review_output=review_output,
    )


def agent(model: Model, journal: Journal | None = None, **plan_args) -> dict:
    steps = agent_steps(request(), session(), Backend(), plan(**plan_args), journal or Journal())
    return drive(steps, model)


def test_a_two_tool_loop_builds_the_conversation_in_order():
    model = Model(
        reply("", call("lookup_order", "c1", order_id=7)),
        reply("", call("refund", "c2", order_id=7, amount=89.5)),
        reply("Refunded 89.50."),
    )
    result = agent(model)
    assert result["text"] == "Refunded 89.50."
    assert result["steps"] == [
        {"tool": "lookup_order", "arguments": {"order_id": 7}, "result": '{"order_id": 7, "total": 89.5}'},
        {"tool": "refund", "arguments": {"order_id": 7, "amount": 89.5}, "result": "refunded 89.5"},
    ]
    assert result["usage"] == {"prompt_tokens": 30, "completion_tokens": 6, "total_tokens": 36}
    last = model.sent[-1]
    assert [m["role"] for m in last.messages] == ["system", "user", "assistant", "tool", "assistant", "tool"]
    assert last.messages[2]["tool_calls"][0]["id"] == "c1"
    assert last.messages[3] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": '{"order_id": 7, "total": 89.5}',
    }
    assert last.messages[5]["tool_call_id"] == "c2"
    # Every turn offers the tools, in the OpenAI format, with the task's settings.
    for sent in model.sent:
        assert [t["function"]["name"] for t in sent.generation["tools"]] == [
            "lookup_order",
            "refund",
            "broken",
        ]
        assert sent.generation["max_tokens"] == 50


def test_parallel_calls_of_one_reply_run_in_order():
    model = Model(
        reply("", call("lookup_order", "a", order_id=1), call("lookup_order", "b", order_id=2)),
        reply("Both found."),
    )
    result = agent(model)
    assert [s["arguments"]["order_id"] for s in result["steps"]] == [1, 2]
    assert [m.get("tool_call_id") for m in model.sent[1].messages[-2:]] == ["a", "b"]


def test_a_tool_error_unknown_tool_and_bad_json_go_back_to_the_model():
    bad_json = {"id": "c3", "type": "function", "function": {"name": "refund", "arguments": "{order_id: 7"}}
    model = Model(
        reply("", call("broken", "c1", reason="x"), call("teleport", "c2", where="moon"), bad_json),
        reply("Sorry, I could not."),
    )
    result = agent(model)
    texts = [s["result"] for s in result["steps"]]
    assert "RuntimeError: cannot: x" in texts[0]
    assert "there is no tool named 'teleport'" in texts[1]
    assert "not valid JSON" in texts[2]
    assert result["text"] == "Sorry, I could not."
    assert model.ran == ["broken"]


def test_max_steps_fails_naming_it_and_the_tools_called():
    model = Model(*[reply("", call("lookup_order", f"c{i}", order_id=i)) for i in range(3)])
    with pytest.raises(AgentStepsExceededError, match=r"max_steps=3 .* Tools called: lookup_order x2"):
        agent(model, max_steps=3)
    assert len(model.sent) == 3


def test_a_retry_replays_finished_turns_and_never_runs_a_finished_tool_again():
    SIDE_EFFECTS.clear()
    script = [
        reply("", call("lookup_order", "c1", order_id=7)),
        reply("", call("refund", "c2", order_id=7, amount=10.0)),
        reply("", call("lookup_order", "c3", order_id=8)),
        reply("", call("refund", "c4", order_id=8, amount=5.0)),
        reply("Done."),
    ]
    journal = Journal()
    first = Model(*script)
    first.crash_at_turn = 3  # killed after the second of four tool calls, while asking the model
    with pytest.raises(KeyboardInterrupt):
        agent(first, journal)
    assert first.ran == ["lookup_order", "refund"]
    assert SIDE_EFFECTS == [("refund", 7, 10.0)]
    again = Model(*script[len(first.sent) :])  # the model answers only what was not answered
    result = agent(again, Journal(journal.events))
    assert len(first.sent) + len(again.sent) == len(script)  # no turn paid for twice
    assert again.ran == ["lookup_order", "refund"]  # the last two calls only
    assert SIDE_EFFECTS == [("refund", 7, 10.0), ("refund", 8, 5.0)]
    assert [s["tool"] for s in result["steps"]] == ["lookup_order", "refund", "lookup_order", "refund"]


def test_a_call_cut_off_inside_its_tool_is_not_run_again():
    turn = reply("", call("refund", "c1", order_id=1, amount=1.0))
    journal = Journal(
        [
            {"kind": "reply", "key": request_digest_of_first_turn(), "value": turn},
            {"kind": "start", "key": "c1", "value": True},  # started, never finished: the worker died
        ]
    )
    model = Model(reply("Checked."))
    result = agent(model, journal)
    assert model.ran == []
    assert "interrupted by a crash" in result["steps"][0]["result"]


def request_digest_of_first_turn() -> str:
    import dataclasses

    first = dataclasses.replace(
        request(), generation={**request().generation, "tools": [t.spec() for t in TOOLS.values()]}
    )
    return first.digest


def test_an_edited_prompt_is_not_answered_from_the_journal():
    journal = Journal([{"kind": "reply", "key": "a digest of another prompt", "value": reply("old answer")}])
    model = Model(reply("new answer"))
    assert agent(model, journal)["text"] == "new answer"
    assert journal.events[0]["value"]["text"] == "new answer"  # the stale record was dropped


def test_a_rejected_call_is_not_run_and_the_model_hears_why():
    model = Model(
        reply("", call("refund", "c1", order_id=7, amount=1000.0)),
        reply("I cannot refund that."),
        decisions={"c1": Decision(approved=False, comment="over the order's total")},
    )
    result = agent(model, approve=("refund",))
    assert model.ran == []
    assert result["steps"][0]["result"] == (
        "A person rejected this call of refund: over the order's total It was not run."
    )


def test_an_approved_call_runs_with_the_reviewers_arguments():
    SIDE_EFFECTS.clear()
    model = Model(
        reply("", call("refund", "c1", order_id=7, amount=1000.0)),
        reply("Refunded."),
        decisions={"c1": Decision(approved=True, arguments={"order_id": 7, "amount": 89.5})},
    )
    agent(model, approve=("refund",))
    assert SIDE_EFFECTS == [("refund", 7, 89.5)]


def test_the_answer_can_be_edited_by_its_reviewer():
    model = Model(reply("draft"), decisions={"answer": Decision(approved=True, text="final")})
    assert agent(model, review_output=True)["text"] == "final"


def test_a_server_without_tool_calling_ends_the_loop_at_once():
    # The error mapper names the refusal (tests/operators/test_agent.py meets it over HTTP); the loop
    # never retries it, nor reads calls out of prose.
    attempts = []

    def refusing(step):
        attempts.append(step)
        raise ToolCallingNotSupportedError("tools param requires --jinja flag", status_code=500)

    steps = agent_steps(request(), session(), Backend(), plan(), Journal())
    with pytest.raises(ToolCallingNotSupportedError, match="--jinja flag"):
        drive(steps, refusing)
    assert len(attempts) == 1


def test_max_calls_bounds_the_turns():
    model = Model(*[reply("", call("lookup_order", f"c{i}", order_id=i)) for i in range(5)])
    steps = agent_steps(request(), session(max_calls=2), Backend(), plan(), Journal())
    with pytest.raises(HuggingFaceError, match="max_calls=2"):
        drive(steps, model)
    assert len(model.sent) == 2
