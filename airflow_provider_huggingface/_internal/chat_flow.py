"""How one chat request gets its answer, written once for the worker, the triggerer and a batch.

:func:`chat_steps` asks each model in turn (the request's, then its fallbacks), each first checked on
the Hub when asked to, sends under the one retry policy and the task's budget, and asks once more
when a JSON reply does not fit. It is a generator of steps (see :mod:`._internal.steps`): the hook's
``chat`` drives it in a worker, ``achat`` in an event loop; neither adds logic of its own.

The models in turn (:func:`models_in_turn`), one request under the retry policy and the budget
(:func:`send_steps`) and the session are shared with the embedding steps
(:mod:`._internal.embed_flow`).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from airflow_provider_huggingface._internal.chat import add_usage, count_tokens
from airflow_provider_huggingface._internal.retry import retrying
from airflow_provider_huggingface._internal.steps import Blocking
from airflow_provider_huggingface._internal.structured import READERS, reask, reask_request, wants_json
from airflow_provider_huggingface.exceptions import HuggingFaceError, StructuredOutputError

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from airflow_provider_huggingface._internal.budget import Budget
    from airflow_provider_huggingface._internal.chat import ChatRequest, ChatResult
    from airflow_provider_huggingface._internal.fallback import ModelFallback
    from airflow_provider_huggingface._internal.retry import RetryPolicy, TaskLog
    from airflow_provider_huggingface.observability.lineage import LineageFacts
    from airflow_provider_huggingface.observability.span_budget import SpanBudget

R = TypeVar("R")  # a request: a chat's or an embedding's


@dataclass(frozen=True)
class Ask:
    """A step: send this chat completion request once (streamed into the log when ``stream``)."""

    request: ChatRequest
    stream: bool = False


@dataclass(frozen=True)
class ChatSession:
    """What the calls of one task share beyond each call's request (a chat's or an embedding's).

    :param fallback: the models to ask in turn; shared, so that a model that failed stays skipped.
    :param budget: what the task's calls may spend together.
    :param log: where the calls' lines go (a stream's, a budget's warning).
    :param retry_log: where retry lines go, if not ``log`` (a batch lets a few through).
    :param reask_log: where the structured-output re-ask lines go, if not ``log`` (likewise).
    :param validate_model: ask the Hub, before a model's first request, whether it can chat.
    :param report: log one line per answered call (a batch logs progress instead).
    :param on_failure: told of each failed attempt and whether it will be retried.
    :param lineage: the task's OpenLineage facts, told of each request that answered or failed for good.
    :param spans: the bounded OpenTelemetry spans of many calls (a batch's); else a span per request.
    """

    fallback: ModelFallback
    budget: Budget
    log: TaskLog
    retry_log: TaskLog | None = None
    reask_log: TaskLog | None = None
    validate_model: bool = False
    report: bool = True
    on_failure: Callable[[HuggingFaceError, bool], None] | None = None
    lineage: LineageFacts | None = None
    spans: SpanBudget | None = None


class ChatBackend(Protocol):
    """What the steps need of a connection (the hook provides it)."""

    @property
    def retry_policy(self) -> RetryPolicy: ...

    def map_error(
        self, error: BaseException, model: str | None = None, task: str = "conversational"
    ) -> HuggingFaceError: ...

    def validate_model(self, request: Any) -> None: ...

    def route_lookup(self, model: str | None, task: str = "conversational") -> Callable[[], None] | None: ...


def chat_steps(
    request: ChatRequest, session: ChatSession, backend: ChatBackend, *, stream: bool = False
) -> Generator[Any, Any, tuple[ChatRequest, ChatResult]]:
    """Steps whose value is ``(the request as answered, its result)``: the model that answered is the
    first of the request's model and its fallbacks that could."""

    def answer(attempt: ChatRequest) -> Generator[Any, Any, ChatResult]:
        return _answer(attempt, session, backend, stream)

    return (yield from models_in_turn(request, session, backend, answer))


def models_in_turn(
    request: R,
    session: ChatSession,
    backend: ChatBackend,
    answer: Callable[[R], Generator[Any, Any, Any]],
) -> Generator[Any, Any, tuple[R, Any]]:
    """Steps whose value is ``(the request as answered, answer's value)``: the request's model, then its
    fallbacks, each first checked on the Hub when the session asks for it, until one answers.

    :param request: a chat or an embedding request (a frozen dataclass with ``model`` and ``task``).
    :param answer: the steps of one model's answer to the request given.
    """
    fallback = session.fallback
    candidates = fallback.candidates(request.model)  # type: ignore[attr-defined]
    error: HuggingFaceError | None = None
    for position, model in enumerate(candidates):
        attempt = dataclasses.replace(request, model=model)  # type: ignore[type-var]
        try:
            if session.validate_model:
                yield Blocking(functools.partial(backend.validate_model, attempt))
            lookup = backend.route_lookup(model, attempt.task)  # type: ignore[attr-defined]
            if lookup is not None:
                yield Blocking(lookup)
            result = yield from answer(attempt)
        except HuggingFaceError as exc:
            error = exc
        else:
            fallback.answered(model)
            return attempt, result
        following = candidates[position + 1] if position + 1 < len(candidates) else None
        if not fallback.failed(model, error, following):
            raise error
    raise fallback.exhausted(error)


def _answer(
    request: ChatRequest, session: ChatSession, backend: ChatBackend, stream: bool
) -> Generator[Any, Any, ChatResult]:
    """One model's answer: the request, and once more when its JSON does not fit."""
    if stream:
        # The reply's lines follow in the log as they arrive, so say first what they answer.
        session.log.info("Streaming chat: %s", request)
    result = yield from send_steps(Ask(request, stream), session, backend)
    response_format = request.generation.get("response_format")
    if not wants_json(response_format):
        return result
    read = READERS[request.reader]
    try:
        result["json"] = read(result["text"], response_format)
        return result
    except StructuredOutputError as exc:
        problem = exc
    try:
        again = reask_request(request, result["usage"], problem, session.budget)
    except StructuredOutputError as refused:
        refused.result = result  # paid for: a batch keeps it, a branch reports it
        raise
    (session.reask_log or session.log).warning("Asking once more for JSON that fits: %s", problem)
    again = dataclasses.replace(again, messages=reask(request.messages, result["text"], problem))
    second = yield from send_steps(Ask(again, stream), session, backend)
    second["usage"] = add_usage(result["usage"], second["usage"])  # both calls are billed
    try:
        second["json"] = read(second["text"], response_format)
    except StructuredOutputError as exc:
        exc.result = second
        raise
    return second


def send_steps(step: Any, session: ChatSession, backend: ChatBackend) -> Generator[Any, Any, Any]:
    """One request step (an :class:`Ask`, an embedding's ``Embed``) under the retry policy and the
    budget; the tokens of its result (``{"model", "usage", ...}``) are counted in both."""
    budget = session.budget
    request = step.request

    def on_failure(error: HuggingFaceError, again: bool) -> None:
        budget.settle(error)
        if session.on_failure is not None:
            session.on_failure(error, again)
        if not again and session.lineage is not None:
            session.lineage.record_call(failed=True)

    result = yield from retrying(
        step,
        policy=backend.retry_policy,
        map_error=functools.partial(backend.map_error, model=request.model, task=request.task),
        log=session.retry_log or session.log,
        on_failure=on_failure,
        admit=budget.admit,
    )
    count_tokens(result["model"], result["usage"])
    budget.record(result["usage"], session.log)
    if session.lineage is not None:
        usage = result["usage"]
        session.lineage.record_call(
            model=result["model"],
            provider=result.get("provider"),
            input_tokens=usage["prompt_tokens"] if usage else None,
            output_tokens=usage["completion_tokens"] if usage else None,
        )
    return result
