"""``HuggingFaceChatTrigger``: a chat completion awaited in the triggerer instead of a worker slot."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface import exceptions
from airflow_provider_huggingface._internal.airflow_compat import BaseTrigger, TriggerEvent
from airflow_provider_huggingface._internal.http_logs import quiet_http_logs
from airflow_provider_huggingface.exceptions import HuggingFaceError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from airflow_provider_huggingface._internal.chat import ChatRequest
    from airflow_provider_huggingface._internal.chat_flow import ChatSession


class HuggingFaceChatTrigger(BaseTrigger):
    """Send one checked chat request and fire one event with its result or its error.

    The operator renders and checks the request in the worker (:meth:`HuggingFaceHook.prepare_chat`);
    this trigger only sends it, under the connection's retry policy, so a long wait (a loading
    model, a rate limit, a slow generation) costs no worker slot. The token is never serialized:
    the trigger reads the connection itself.

    Events: ``{"status": "success", "result": {...}}`` with the same result the synchronous call
    returns, or ``{"status": "error", "error_class", "message", "status_code", "request_id",
    "server_message"}``; :func:`error_from_event` turns the latter back into the same exception.

    :param hf_conn_id: the ``huggingface`` connection.
    :param model: the request's resolved model id, or None for an endpoint's own model.
    :param messages: the rendered chat messages.
    :param generation: the checked generation settings (max_tokens, stop, response_format...).
    :param fallback_models: models to ask in turn when ``model`` itself cannot answer.
    :param max_calls: the most requests the call may make, its structured-output re-ask included
        (what the worker's checks used is already deducted).
    :param max_total_tokens: the most tokens the call may use, its structured-output re-ask included.
    :param reader: how a JSON reply is read (see ``ChatRequest.reader``).
    :param carry: plain JSON handed back in the event, untouched (an agent's journal: a resumed task
        gets it even where the deferral's kwargs are not handed back, as under ``dag.test()`` before
        Airflow 3.3).
    """

    def __init__(
        self,
        *,
        hf_conn_id: str,
        model: str | None,
        messages: list[dict[str, str]],
        generation: dict[str, Any],
        fallback_models: list[str] | None = None,
        max_calls: int | None = None,
        max_total_tokens: int | None = None,
        reader: str = "json",
        carry: Any = None,
    ) -> None:
        super().__init__()
        self.hf_conn_id = hf_conn_id
        self.model = model
        self.messages = messages
        self.generation = generation
        self.fallback_models = list(fallback_models or ())
        self.max_calls = max_calls
        self.max_total_tokens = max_total_tokens
        self.reader = reader
        self.carry = carry

    @classmethod
    def for_request(
        cls, hf_conn_id: str, request: ChatRequest, session: ChatSession, *, admitted: bool = False
    ) -> HuggingFaceChatTrigger:
        """The trigger that sends ``request`` with what is left of the session: the models not yet
        skipped, and the budget not yet spent (``admitted``: this request is counted in it already)."""
        budget = session.budget
        calls_left = None if budget.max_calls is None else budget.max_calls - budget.calls + admitted
        tokens_left = budget.tokens_left()
        return cls(
            hf_conn_id=hf_conn_id,
            model=request.model,
            messages=request.messages,
            generation=request.generation,
            fallback_models=[m for m in session.fallback.candidates(request.model)[1:] if m is not None],
            max_calls=calls_left,
            max_total_tokens=None if tokens_left is None else max(tokens_left, 1),
            reader=request.reader,
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "hf_conn_id": self.hf_conn_id,
                "model": self.model,
                "messages": self.messages,
                "generation": self.generation,
                "fallback_models": self.fallback_models,
                "max_calls": self.max_calls,
                "max_total_tokens": self.max_total_tokens,
                "reader": self.reader,
                "carry": self.carry,
            },
        )

    def __repr__(self) -> str:
        # BaseTrigger's repr lists every argument: the prompts, and images as megabyte data URLs.
        from airflow_provider_huggingface._internal.images import describe

        chars, images, _ = describe(self.messages)
        return (
            f"<{type(self).__qualname__} conn {self.hf_conn_id}, model {self.model}, "
            f"{len(self.messages)} message(s), {chars} characters, {images} image(s)>"
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        if not _modules_loaded.is_set():
            # The first trigger of a triggerer imports the hook and huggingface_hub's client (about
            # 0.3 s); in a thread it stalls no other trigger.
            await asyncio.to_thread(_load_modules)
        from airflow_provider_huggingface._internal.chat import ChatRequest
        from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook

        hook = HuggingFaceHook(hf_conn_id=self.hf_conn_id)
        try:
            settings = await hook.aget_settings()
        except HuggingFaceError as error:  # the connection's settings are wrong: ConfigurationError
            yield TriggerEvent(error_event(error))
            return
        except Exception as exc:
            # No such connection, or the secrets backend failed. Not permanent, as in the worker:
            # Airflow's retries may find it fixed.
            message = f"Connection '{self.hf_conn_id}' could not be read: {type(exc).__name__}: {exc}"
            yield TriggerEvent(error_event(HuggingFaceError(message)))
            return
        request = ChatRequest(
            where=settings.where,
            model=self.model,
            messages=self.messages,
            generation=self.generation,
            reader=self.reader,
        )
        try:
            # Without a client, achat shares the loop's client for this connection's settings: hundreds
            # of triggers then build one client (in a thread) and share its connections. httpx's line
            # per request is dropped: on the triggerer's loop it costs every trigger, and the hook's
            # own line per call (and its retry lines) say more. Never yield inside: the flag is this task's.
            session = hook.chat_session(
                request,
                fallback_models=self.fallback_models,
                max_calls=self.max_calls,
                max_total_tokens=self.max_total_tokens,
            )
            with quiet_http_logs():
                result = await hook.achat(request, session=session)
        except Exception as exc:
            # achat raises mapped errors already; anything else goes through the same one mapper.
            yield TriggerEvent(error_event(hook.map_error(exc, model=self.model)))
            return
        event = {"status": "success", "result": result}
        yield TriggerEvent(event if self.carry is None else {**event, "carry": self.carry})


_modules_loaded = threading.Event()


def _load_modules() -> None:
    from huggingface_hub import AsyncInferenceClient  # noqa: F401

    import airflow_provider_huggingface._internal.chat_flow
    import airflow_provider_huggingface._internal.client_pool
    import airflow_provider_huggingface.hooks.huggingface  # noqa: F401

    _modules_loaded.set()


def error_event(error: HuggingFaceError) -> dict[str, Any]:
    """A plain-JSON event payload that carries ``error`` across to the worker (with the reply
    already paid for, when a structured-output error has one)."""
    event = {
        "status": "error",
        "error_class": type(error).__name__,
        "message": str(error),
        "status_code": error.status_code,
        "request_id": error.request_id,
        "server_message": error.server_message,
    }
    result = getattr(error, "result", None)
    return event if result is None else {**event, "result": result}


def error_from_event(event: dict[str, Any]) -> HuggingFaceError:
    """The :class:`HuggingFaceError` subclass an error event names, with its message, to raise.

    Only classes of :mod:`airflow_provider_huggingface.exceptions` are looked up, so a permanent error
    (a bad token) stays an ``AirflowFailException`` that Airflow does not retry.
    """
    cls = getattr(exceptions, str(event.get("error_class")), None)
    if not (isinstance(cls, type) and issubclass(cls, HuggingFaceError)):
        cls = HuggingFaceError
    error = cls(
        str(event.get("message") or "The Hugging Face trigger failed without a message."),
        status_code=event.get("status_code"),
        request_id=event.get("request_id"),
        server_message=event.get("server_message"),
    )
    if event.get("result") is not None:
        error.result = event["result"]  # type: ignore[attr-defined]  # a StructuredOutputError's
    return error
