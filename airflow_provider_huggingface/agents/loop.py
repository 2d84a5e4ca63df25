"""The agent's loop, written once as steps (see :mod:`airflow_provider_huggingface._internal.steps`).

Each turn sends the conversation with the tools (through the chat steps: fallback models, retries,
the task's budget); a reply without tool calls ends the loop and is the answer; each tool call of a
reply runs in order, after a person's review where one is required, and its result is appended as a
``tool`` message. Every finished turn, call and review is recorded in the journal and replayed from it
(see :mod:`airflow_provider_huggingface.agents.journal`).

The loop sends, runs and asks nothing itself: it yields :class:`~._internal.chat_flow.Ask`,
:class:`RunTool` and :class:`Review` steps, which the operator carries out in the worker, in the
triggerer (a deferred turn) or through Airflow's human-in-the-loop (a review).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from airflow_provider_huggingface._internal.chat import add_usage
from airflow_provider_huggingface._internal.chat_flow import chat_steps
from airflow_provider_huggingface.agents.tools import PreparedCall, ToolOutcome, prepare
from airflow_provider_huggingface.exceptions import AgentStepsExceededError

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Mapping

    from airflow_provider_huggingface._internal.chat import ChatRequest, ChatResult, TokenUsage
    from airflow_provider_huggingface._internal.chat_flow import ChatBackend, ChatSession
    from airflow_provider_huggingface.agents.journal import Journal
    from airflow_provider_huggingface.agents.tools import Tool


@dataclass(frozen=True)
class RunTool:
    """A step: run this call's function in the worker, with ``arguments`` (a reviewer's) if given."""

    prepared: PreparedCall
    arguments: dict[str, Any] | None = None


@dataclass(frozen=True)
class Review:
    """A step: ask a person about a tool call (``call``) or the final answer (``text``); ``key`` names
    it in the journal."""

    key: str
    call: PreparedCall | None = None
    text: str | None = None


@dataclass(frozen=True)
class Decision:
    """A person's answer to a :class:`Review`.

    :param approved: run the call (or push the answer), else not.
    :param arguments: the arguments to run the call with instead of the model's.
    :param text: the answer to push instead of the model's.
    :param comment: what the reviewer wrote (sent to the model with a rejection).
    :param by: who answered.
    """

    approved: bool
    arguments: dict[str, Any] | None = None
    text: str | None = None
    comment: str = ""
    by: str | None = None


class AgentResult(TypedDict):
    """The agent operator's XCom: the answer, each tool call made, the model that gave the answer,
    and the tokens of all turns."""

    text: str
    steps: list[dict[str, Any]]
    model: str | None
    usage: TokenUsage | None


@dataclass(frozen=True)
class AgentPlan:
    """What an agent run is given besides its first request and its session.

    :param tools: the tools by name.
    :param max_steps: the most model turns.
    :param needs_approval: whether a call of this tool waits for a person.
    :param review_output: whether the final answer waits for a person.
    :param max_result_chars: the longest tool result sent back to the model.
    :param secrets: what no tool message may hold (the token).
    """

    tools: Mapping[str, Tool]
    max_steps: int
    needs_approval: Callable[[str], bool]
    review_output: bool = False
    max_result_chars: int = 16_000
    secrets: tuple[str | None, ...] = ()


def agent_steps(
    request: ChatRequest, session: ChatSession, backend: ChatBackend, plan: AgentPlan, journal: Journal
) -> Generator[Any, Any, AgentResult]:
    """Steps whose value is the agent's result; see the module's docstring."""
    specs = [tool.spec() for tool in plan.tools.values()]
    generation = {**request.generation, "tools": specs}
    conversation = list(request.messages)
    steps: list[dict[str, Any]] = []
    usage: TokenUsage | None = None
    for turn in range(1, plan.max_steps + 1):
        ask = dataclasses.replace(request, messages=list(conversation), generation=generation)
        reply = yield from _turn(ask, session, backend, journal)
        usage = add_usage(usage, reply["usage"])
        session = dataclasses.replace(session, validate_model=False)  # checked before the first turn
        calls = reply.get("tool_calls") or []
        if not calls:
            text = reply["text"]
            if plan.review_output:
                text = yield from _reviewed_answer(text, journal)
            return {"text": text, "steps": steps, "model": reply["model"], "usage": usage}
        if turn == plan.max_steps:
            called = Counter(step["tool"] for step in steps)
            said = ", ".join(f"{name} x{n}" for name, n in called.items()) or "none yet"
            raise AgentStepsExceededError(
                f"The agent did not finish within max_steps={plan.max_steps} model turns: turn "
                f"{turn} still called {', '.join(c['function']['name'] for c in calls)}. Tools called: "
                f"{said}. Raise max_steps, or say in the prompt when the model has enough to answer."
            )
        # No content key when there is none: some servers (llama.cpp) refuse a null one.
        turn_message: dict[str, Any] = {"role": "assistant", "tool_calls": calls}
        if reply["text"]:
            turn_message["content"] = reply["text"]
        conversation.append(turn_message)
        for position, call in enumerate(calls):
            key = call.get("id") or f"turn{turn}-call{position}"  # a server that sends no ids
            outcome = yield from _tool_call(key, call, plan, journal)
            conversation.append(outcome.as_message())
            steps.append({"tool": outcome.name, "arguments": outcome.arguments, "result": outcome.text})
    raise AssertionError("unreachable: the last turn returns or raises")


def _turn(
    ask: ChatRequest, session: ChatSession, backend: ChatBackend, journal: Journal
) -> Generator[Any, Any, ChatResult]:
    """One model turn: replayed when the journal holds it (it was paid for), else sent."""
    recorded = journal.replay("reply", ask.digest)
    if recorded is not None:
        # An earlier try's turn: not sent again, but counted in the task's budget as it was billed.
        session.budget.count_earlier(recorded["usage"])
        return recorded
    # A server that serves no tool calling is refused by the error mapper, naming what to pick instead
    # (ToolCallingNotSupportedError): no prose is ever parsed for calls.
    _, reply = yield from chat_steps(ask, session, backend)
    journal.record("reply", ask.digest, reply)
    return reply


def _tool_call(
    key: str, call: dict[str, Any], plan: AgentPlan, journal: Journal
) -> Generator[Any, Any, ToolOutcome]:
    """One tool call: prepared, reviewed where required, run at most once, its outcome recorded.

    Replayed in the order it was recorded: the review, the start, the outcome.
    """
    prepared = prepare(plan.tools, call, max_chars=plan.max_result_chars, secrets=plan.secrets)
    if isinstance(prepared, ToolOutcome):
        return _recorded(key, prepared, journal)  # an unknown tool or bad arguments: nothing runs
    arguments = None
    if plan.needs_approval(prepared.name):
        decision = yield from _decision(Review(key=key, call=prepared), journal)
        if not decision.approved:
            comment = f": {decision.comment}" if decision.comment else "."
            text = f"A person rejected this call of {prepared.name}{comment} It was not run."
            return _recorded(key, _note(prepared, text), journal)
        arguments = decision.arguments
    if journal.replay("start", key) is None:
        journal.record("start", key, True)  # before it runs: a crash inside it must not run it twice
        outcome: ToolOutcome = yield RunTool(prepared, arguments)
        return _recorded(key, outcome, journal)
    interrupted = _note(
        prepared,
        f"The call of {prepared.name} was interrupted by a crash of the task; whether it took effect is "
        "unknown, and it is not run again. Check before calling it anew.",
    )
    return _recorded(key, interrupted, journal)


def _recorded(key: str, outcome: ToolOutcome, journal: Journal) -> ToolOutcome:
    """The outcome the journal holds for this call, else ``outcome``, recorded."""
    recorded = journal.replay("tool", key)
    if recorded is not None:
        return ToolOutcome(**recorded)
    journal.record("tool", key, dataclasses.asdict(outcome))
    return outcome


def _reviewed_answer(text: str, journal: Journal) -> Generator[Any, Any, str]:
    from airflow_provider_huggingface.exceptions import AgentOutputRejectedError

    decision = yield from _decision(Review(key="answer", text=text), journal)
    if not decision.approved:
        raise AgentOutputRejectedError(
            f"A person rejected the agent's answer{f': {decision.comment}' if decision.comment else '.'}"
        )
    return decision.text if decision.text else text


def _decision(review: Review, journal: Journal) -> Generator[Any, Any, Decision]:
    recorded = journal.replay("review", review.key)
    if recorded is None:
        decision: Decision = yield review
        recorded = dataclasses.asdict(decision)
        journal.record("review", review.key, recorded)
    return Decision(**recorded)


def _note(prepared: PreparedCall, text: str) -> ToolOutcome:
    return ToolOutcome(
        call_id=prepared.call_id,
        name=prepared.name,
        arguments=prepared.arguments,
        text=text,
        error="tool_error",
    )
