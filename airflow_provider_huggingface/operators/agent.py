"""``HuggingFaceAgentOperator``: a chat model that calls tools, under a person's review, until it answers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NoReturn

from airflow_provider_huggingface._internal.validation import COUNT, check_number
from airflow_provider_huggingface.exceptions import ConfigurationError, HuggingFacePermanentError
from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Sequence
    from datetime import timedelta

    from airflow.sdk import Context

    from airflow_provider_huggingface._internal.chat import ChatRequest
    from airflow_provider_huggingface._internal.chat_flow import ChatSession
    from airflow_provider_huggingface.agents.journal import Journal
    from airflow_provider_huggingface.agents.loop import AgentPlan, AgentResult
    from airflow_provider_huggingface.agents.tools import Tool

__all__ = ["HuggingFaceAgentOperator"]


class HuggingFaceAgentOperator(HuggingFaceChatOperator):
    """Let a chat model call tools (Python functions, Airflow hooks) until it can answer; push
    ``{"text", "steps", "model", "usage"}``.

    Each turn sends the conversation with the tools' schemas (OpenAI's chat format). A reply that calls
    tools has them run in order, in the worker, and their results appended as ``tool`` messages; a reply
    without tool calls is the answer. A tool that raises, an unknown tool, or arguments that are not JSON
    or do not fit the tool's parameters: what went wrong goes back to the model as that call's result,
    and the loop goes on. ``steps`` lists every call: ``{"tool", "arguments", "result"}``.

    **Durable**: every finished turn, tool call and review is recorded as it finishes, in the task state
    store (Airflow 3.3+); a retry replays them instead of paying again for a turn or running a tool again,
    and a tool call cut off by a crash is never run twice (see :mod:`~airflow_provider_huggingface.agents
    .journal`). On older Airflow lines a retry starts over, and the log says so.

    It takes every parameter of :class:`HuggingFaceChatOperator` (prompts, ``messages``, ``images``,
    settings, ``fallback_models``, budgets across all turns, ``deferrable``: each model turn then waits in
    the triggerer, the tools run in the worker). And:

    :param tools: the tools: plain Python functions (typed, with a docstring: their schema is read from
        them when the DAG is parsed, see :class:`~airflow_provider_huggingface.agents.tools.Tool`), and
        ``Tool``\\ s such as :func:`~airflow_provider_huggingface.agents.sql.sql_tool` or
        :func:`~airflow_provider_huggingface.agents.http.http_tool`.
    :param tool_choice: ``"auto"`` (the server's default), ``"required"``, ``"none"``, or a tool's name to
        force that tool at every turn.
    :param max_steps: the most model turns (default 10); a model still calling tools at the last one
        fails the task, naming the tools it called.
    :param require_approval: tool names (or ``True`` for all) whose calls wait for a person's approval in
        the Airflow UI's required actions (Airflow 3.1+), without holding a worker slot. A person may
        approve, reject (the model is told, with the comment) or edit the arguments.
    :param review_output: a person approves (or edits, or rejects: the task fails) the final answer
        before it is pushed.
    :param review_timeout: how long a review may wait; none by default.
    :param max_result_chars: the longest tool result sent back to the model (default 16,000 characters);
        a longer one is cut, saying how much.
    """

    def __init__(
        self,
        *,
        tools: Sequence[Callable[..., Any] | Tool],
        tool_choice: str | None = None,
        max_steps: int = 10,
        require_approval: bool | Sequence[str] = (),
        review_output: bool = False,
        review_timeout: timedelta | None = None,
        max_result_chars: int = 16_000,
        **kwargs: Any,
    ) -> None:
        from airflow_provider_huggingface.agents.tools import resolve_tools

        if kwargs.get("response_format") is not None:
            raise TypeError(
                "HuggingFaceAgentOperator takes no response_format: its answer is the model's text."
            )
        super().__init__(**kwargs)
        # Checked when the DAG is parsed: a tool that cannot be described fails the parse, naming it.
        self.tools = resolve_tools(tools)
        if not self.tools:
            raise ConfigurationError(
                "tools is empty: give the agent at least one tool (a typed, docstringed function)."
            )
        self.tool_choice = tool_choice
        self.max_steps = check_number("max_steps", max_steps, COUNT, optional=False)
        unknown = (
            [] if isinstance(require_approval, bool) else sorted(set(require_approval) - set(self.tools))
        )
        if unknown:
            raise ConfigurationError(
                f"require_approval names {', '.join(unknown)}, not tools of this task: "
                f"{', '.join(self.tools)}."
            )
        self.require_approval = require_approval
        self.review_output = review_output
        self.review_timeout = review_timeout
        self.max_result_chars = check_number("max_result_chars", max_result_chars, COUNT, optional=False)

    @property
    def chat_settings(self) -> dict[str, Any]:
        settings = super().chat_settings
        if self.tool_choice is None:
            return settings
        choice: Any = self.tool_choice
        if choice not in ("auto", "none", "required"):
            if choice not in self.tools:
                raise ConfigurationError(
                    f"tool_choice={choice!r}: give 'auto', 'none', 'required' or one of the tools: "
                    f"{', '.join(self.tools)}."
                )
            choice = {"type": "function", "function": {"name": choice}}
        return {**settings, "tool_choice": choice}

    def _needs_approval(self, name: str) -> bool:
        return self.require_approval is True or (
            not isinstance(self.require_approval, bool) and name in self.require_approval
        )

    def plan(self) -> AgentPlan:
        from airflow_provider_huggingface.agents.loop import AgentPlan

        return AgentPlan(
            tools=self.tools,
            max_steps=self.max_steps,
            needs_approval=self._needs_approval,
            review_output=self.review_output,
            max_result_chars=self.max_result_chars,
            secrets=(self.hook.settings.token,),
        )

    # --- running the loop

    def execute(self, context: Context) -> AgentResult:  # type: ignore[override]  # its own XCom
        from airflow_provider_huggingface.agents.journal import Journal

        if self.require_approval or self.review_output:
            from airflow_provider_huggingface.agents.review import check_supported

            check_supported()
        journal = Journal.of_task(context)
        if not journal.durable:
            self.log.info(
                "The agent's finished steps are kept for this try only: a retry would start over (on "
                "Airflow 3.3+ the task state store keeps them, and a retry replays them)."
            )
        return self.run_agent(context, journal)

    def run_agent(self, context: Context, journal: Journal) -> AgentResult:
        """Drive the loop: replayed from ``journal``, then on until an answer, a deferral or a review."""
        from airflow_provider_huggingface._internal.error_mapping import redact
        from airflow_provider_huggingface._internal.steps import drive

        steps, session = self._steps(context, journal)
        try:
            result = drive(steps, lambda step: self._perform(step, context, session, journal))
        except HuggingFacePermanentError:
            journal.finish()  # no retry will replay it; a task cleared and run again starts anew
            raise
        journal.finish()
        # Tool results reach the model with secrets removed; its answer and the arguments it gave are
        # held to the same rule (a model may echo what it saw).
        result = json.loads(redact(json.dumps(result), (self.hook.settings.token,)))
        self.publish_model(context, result["model"])
        if journal.replayed:
            replayed = "Resumed: %d finished step(s) of an earlier try or turn were replayed, not redone."
            self.log.info(replayed, journal.replayed)
        self.log.info("Agent answered after %d tool call(s).", len(result["steps"]))
        return result

    def _steps(
        self, context: Context, journal: Journal
    ) -> tuple[Generator[Any, Any, AgentResult], ChatSession]:
        from airflow_provider_huggingface.agents.loop import agent_steps

        hook = self.hook
        request = hook.prepare_chat(**self.chat_prompt(context), **self.chat_settings)
        session = hook.chat_session(
            request,
            fallback_models=self.fallback_models,
            validate_model=self.validate_model,
            lineage=self.begin_lineage(),
            **self.budget_settings,
        )
        return agent_steps(request, session, hook, self.plan(), journal), session

    def _perform(self, step: Any, context: Context, session: ChatSession, journal: Journal) -> Any:
        import time

        from airflow_provider_huggingface._internal.chat_flow import Ask
        from airflow_provider_huggingface.agents.loop import Review, RunTool
        from airflow_provider_huggingface.agents.tools import run

        if isinstance(step, Ask):
            if self.deferrable:
                self._defer_turn(step.request, session, journal)
            started = time.monotonic()
            result = self.hook.send_request(step, session)
            self.hook.report(step.request, result, time.monotonic() - started)
            return result
        if isinstance(step, RunTool):
            self.log.info(
                "Calling tool %s with %s", step.prepared.name, step.arguments or step.prepared.arguments
            )
            outcome = run(
                step.prepared,
                arguments=step.arguments,
                max_chars=self.max_result_chars,
                secrets=(self.hook.settings.token,),
            )
            self.log.info(
                "Tool %s: %s, %d characters.", outcome.name, outcome.error or "returned", len(outcome.text)
            )
            return outcome
        if isinstance(step, Review):
            import dataclasses

            from airflow_provider_huggingface._internal.error_mapping import redact
            from airflow_provider_huggingface.agents import review

            if step.text is not None:  # the answer under review reaches the log and XCom: no token in it
                step = dataclasses.replace(step, text=redact(step.text, (self.hook.settings.token,)))
            # The request in the UI is worded for any step (see review.py): the log says which one.
            under_review = (
                f"{step.call.name} with {step.call.arguments}" if step.call else f"the answer: {step.text}"
            )
            self.log.info("Waiting for a person's review of %s.", under_review)
            review.ask(
                context, step, task_id=self.task_id, timeout=self.review_timeout, resume=self._resume(journal)
            )
        raise TypeError(f"unknown step {step!r}")

    def _defer_turn(self, request: ChatRequest, session: ChatSession, journal: Journal) -> NoReturn:
        self.log.info("Deferring the agent's turn to the triggerer: %s", request)
        self.defer(
            trigger=self._turn_trigger(request, session, journal),
            method_name="execute_complete",
            kwargs=self._resume(journal),
            timeout=self.execution_timeout,
        )

    def _turn_trigger(self, request: ChatRequest, session: ChatSession, journal: Journal) -> Any:
        from airflow_provider_huggingface.triggers.huggingface import HuggingFaceChatTrigger

        # The steps admitted this turn to the budget before handing it over: the trigger sends it.
        trigger = HuggingFaceChatTrigger.for_request(self.hf_conn_id, request, session, admitted=True)
        if not journal.durable:
            trigger.carry = journal.events  # back in the event, wherever next_kwargs are not
        return trigger

    def _resume(self, journal: Journal) -> dict[str, Any]:
        """What a resumed task gets back (``next_kwargs``): where no task state store keeps the
        journal, the journal itself."""
        kwargs = dict(self.resume_kwargs() or {})
        if not journal.durable:
            kwargs["journal"] = journal.events
        return kwargs

    def execute_complete(  # type: ignore[override]  # its own XCom
        self, context: Context, event: dict[str, Any], **resume: Any
    ) -> AgentResult:
        """Resume after a deferred turn or a review: record what came back, then go on.

        What the task waited for is found by replaying the journal up to its first step not done:
        a model turn (the trigger's event is its reply) or a review (the event is the person's answer).
        """
        import dataclasses

        from airflow_provider_huggingface._internal.chat_flow import Ask
        from airflow_provider_huggingface._internal.steps import first_request
        from airflow_provider_huggingface.agents.journal import Journal
        from airflow_provider_huggingface.agents.loop import Review

        journal = Journal.of_task(context, carried=resume.get("journal") or event.get("carry"))
        steps, _ = self._steps(context, Journal(journal.events))  # a copy: the dry run records nothing
        waited = first_request(steps)
        if isinstance(waited, Ask) and "status" in event:
            from airflow_provider_huggingface.triggers.huggingface import error_from_event

            if event.get("status") != "success":
                raise error_from_event(event)
            journal.add("reply", waited.request.digest, event["result"])
        elif isinstance(waited, Review) and "status" not in event:
            from airflow_provider_huggingface.agents import review

            decision = review.decision(event)
            verdict = "approved" if decision.approved else "rejected"
            comment = f" ({decision.comment})" if decision.comment else ""
            self.log.info("Review by %s: %s%s", decision.by or "a person", verdict, comment)
            journal.add("review", waited.key, dataclasses.asdict(decision))
        else:
            raise ConfigurationError(
                "The agent resumed, but its journal does not lead to what it waited for (it was changed or "
                "lost): clear the task to run it again."
            )
        return self.run_agent(context, journal)
