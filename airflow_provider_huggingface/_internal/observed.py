"""One model request, observed: its OpenTelemetry span, and the inference provider that served it.

The hook wraps each request it sends (in a worker, streamed, or in an event loop) in
:class:`ObservedRequest`. Imported when a task sends its first request, never at a DAG file's parse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_huggingface._internal.hub_compat import noting_served_by
from airflow_provider_huggingface.observability.tracing import (
    error_type_of,
    genai_provider_name,
    model_call_span,
)

if TYPE_CHECKING:
    from types import TracebackType

    from airflow_provider_huggingface._internal.chat import ChatRequest, ChatResult
    from airflow_provider_huggingface._internal.chat_flow import ChatSession
    from airflow_provider_huggingface._internal.connection import ConnectionSettings
    from airflow_provider_huggingface.exceptions import HuggingFaceError


class _SendingHook(Protocol):
    """What an observed request needs of the hook that sends it (a protocol, not the hook's class:
    the hook imports this module)."""

    @property
    def settings(self) -> ConnectionSettings: ...

    def map_error(
        self, error: BaseException, model: str | None = None, task: str = "conversational"
    ) -> HuggingFaceError: ...


class ObservedRequest:
    """Around one request (``with``, in the thread or task that sends it): the request's span (the
    session's bounded spans for a batch, else a span of its own; a no-op when tracing is off) and the
    providers the responses name (the router's ``x-inference-provider``). A failure marks the span
    with the error the task meets (the provider's class, as the steps map it), not the HTTP client's;
    the client's exception goes on unchanged.

    :param hook: the hook that sends the request (its connection's settings, its error mapper).
    :param request: the request.
    :param session: the task's session, if any (a batch's holds the bounded spans).
    :param operation: ``gen_ai.operation.name`` of a span of its own (``chat``, ``embeddings``).
    """

    __slots__ = ("_noting", "_request", "hook", "served_by", "span")

    def __init__(
        self,
        hook: _SendingHook,
        request: ChatRequest,
        session: ChatSession | None,
        *,
        operation: str = "chat",
    ) -> None:
        self.hook = hook
        self._request = request
        if session is not None and session.spans is not None:
            self.span: Any = session.spans.call(model=request.model)
        else:
            settings = hook.settings
            provider = genai_provider_name(requested=None if settings.base_url else settings.provider)
            self.span = model_call_span(
                operation, model=request.model, provider=provider, server=settings.base_url
            )
        self._noting = noting_served_by()
        self.served_by: list[str] = []

    def __enter__(self) -> ObservedRequest:
        self.span.__enter__()
        self.served_by = self._noting.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._noting.__exit__(exc_type, exc, tb)
        if isinstance(exc, Exception) and self.span.recording:
            self.span.record(error_type=error_type_of(self.hook.map_error(exc, self._request.model)))
        self.span.__exit__(exc_type, exc, tb)

    def answered(self, result: ChatResult) -> ChatResult:
        """The reply, with the inference provider that served it (the router's header, else the one
        the connection names; none for an endpoint) and its figures on the request's span."""
        settings = self.hook.settings
        served = self.served_by[-1] if self.served_by else None
        named = None if settings.base_url or settings.provider == "auto" else settings.provider
        provider = served or named
        if provider:
            result["provider"] = provider
        usage = result["usage"]
        self.span.record(
            response_model=result["model"],
            input_tokens=usage["prompt_tokens"] if usage else None,
            output_tokens=usage["completion_tokens"] if usage else None,
            finish_reasons=[result["finish_reason"]] if result["finish_reason"] else None,
            provider=served,
        )
        return result
