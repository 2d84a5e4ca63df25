"""OpenTelemetry spans of model calls, with the GenAI semantic conventions.

One span per model call, kind CLIENT, named ``"{operation} {model}"`` (``chat mistralai/...``,
``embeddings BAAI/...``), a child of the current span. How Airflow exposes the task's span (read in
``airflow/sdk/execution_time/task_runner.py`` and ``airflow/_shared/observability/traces``):

- ``[traces] otel_on = True`` makes ``configure_otel`` install an SDK ``TracerProvider`` (exporter from
  ``OTEL_TRACES_EXPORTER``, OTLP by default) as OpenTelemetry's *global* provider in Airflow's processes.
- From Airflow 3.2 the task runner's ``main()`` opens ``worker.<task_id>[<map_index>]`` with
  ``start_as_current_span``, parented on the trace context the scheduler passed along; with a detail
  level above 1 (tracestate ``airflow/task_span_detail_level``) a ``task.execute`` span nests inside it.
  ``execute`` runs in a copy of the context taken inside those spans (3.3: ``_run_execute_callable``;
  3.2: ``_execute_task``), so ``trace.get_current_span()`` in operator code *is* the task's span, and a
  span started without an explicit parent becomes its child. Airflow 3.0 and 3.1 open no task span:
  a call's span starts a trace of its own there. ``dag.test()`` skips ``main()``, so it has none either.

Attributes:

=================================  ==========================================================
``gen_ai.operation.name``          ``chat`` or ``embeddings``
``gen_ai.request.model``           the model asked for
``gen_ai.provider.name``           see :func:`genai_provider_name`
``server.address``/``server.port``  the endpoint's host, when the call goes to one
``gen_ai.response.model``          the model that answered (:meth:`ModelCallSpan.record`)
``gen_ai.usage.input_tokens``      prompt tokens, when the server reports usage
``gen_ai.usage.output_tokens``     completion tokens, likewise
``gen_ai.response.finish_reasons`` the finish reasons, when given
``error.type``                     the exception's qualified class name; the span's status is ERROR
=================================  ==========================================================

No prompt, reply, exception message or token is put on a span: an error is marked by its type alone
(a server's message may quote the prompt).

**When spans are made.** When a tracer provider is configured: Airflow's own tracing
(``[traces] otel_on = True`` sets OpenTelemetry's global provider in every Airflow process), or any
code that called ``opentelemetry.trace.set_tracer_provider``. Otherwise :func:`model_call_span`
returns a shared do-nothing object: the check is a dict lookup and an ``isinstance``, and this
module never imports OpenTelemetry itself when no one else has (nothing could have configured it).

**Sync and async.** The same object is a context manager (``with``) and an async one
(``async with``); enter and leave it in the same thread or asyncio task.

**Batches.** :class:`~.span_budget.SpanBudget` bounds a task's spans: one span per call for the
first ``per_call`` calls, then one span per window of ``window`` calls (the window's first start to its
last end, tokens summed, ``huggingface.calls`` and ``huggingface.failed_calls`` counted, ERROR if any
call failed). A batch of ``C`` calls makes at most ``per_call + ceil((C - per_call) / window)`` spans:
with the defaults (100, 100), 199 spans for 10,000 calls.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import TracebackType
    from typing import Self

__all__ = [
    "ModelCallSpan",
    "error_type_of",
    "genai_provider_name",
    "model_call_span",
    "tracing_enabled",
]

TRACER_NAME = "airflow_provider_huggingface"
DEFAULT_PROVIDER = "huggingface"
DEFAULT_PER_CALL = 100
DEFAULT_WINDOW = 100


def genai_provider_name(*, served_by: str | None = None, requested: str | None = None) -> str:
    """``gen_ai.provider.name`` for a call: the inference provider that served it when the router
    says, else the one the connection names, else ``huggingface`` (the router's ``auto``, a dedicated
    endpoint, or no provider at all)."""
    if served_by:
        return served_by
    if requested and requested != "auto":
        return requested
    return DEFAULT_PROVIDER


_MISSING = object()


@functools.cache
def _provider_from_environment() -> bool:
    """Whether OpenTelemetry's API would build a provider from ``OTEL_PYTHON_TRACER_PROVIDER``: read
    once, as the API reads it on first use."""
    return "OTEL_PYTHON_TRACER_PROVIDER" in os.environ


def _provider() -> Any:
    """The configured tracer provider, or None: no OpenTelemetry imported, or only its placeholder."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    # The global the API's set_tracer_provider() writes: reading it skips get_tracer_provider()'s
    # environment lookup on every call (1.5 µs, most of the cost of a call with tracing off).
    provider = getattr(trace, "_TRACER_PROVIDER", _MISSING)
    if provider is None and not _provider_from_environment():
        return None
    if provider is None or provider is _MISSING:
        provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return provider


def tracing_enabled() -> bool:
    """Whether model calls make spans now."""
    return _provider() is not None


_tracer_cache: tuple[Any, Any] | None = None


def _tracer(provider: Any) -> Any:
    """This package's tracer from ``provider``, kept while the provider stays the same."""
    global _tracer_cache
    cached = _tracer_cache
    if cached is not None and cached[0] is provider:
        return cached[1]
    from airflow_provider_huggingface import __version__

    tracer = provider.get_tracer(TRACER_NAME, __version__)
    _tracer_cache = (provider, tracer)
    return tracer


@functools.lru_cache(maxsize=64)
def _server_attributes(server: str | None) -> tuple[tuple[str, Any], ...]:
    """``server.address``/``server.port`` of an endpoint URL (user info dropped)."""
    if not server:
        return ()
    parts = urlsplit(server if "://" in server else f"https://{server}")
    address = parts.hostname
    if not address:
        return ()
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port that is not a number: name the host alone
        return (("server.address", address),)
    return (("server.address", address), ("server.port", port))


def _base_attributes(operation: str, model: str | None, provider: str, server: str | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider,
    }
    if model:
        attributes["gen_ai.request.model"] = model
    attributes.update(_server_attributes(server))
    return attributes


def _span_name(operation: str, model: str | None) -> str:
    return f"{operation} {model}" if model else operation


def error_type_of(exc: BaseException) -> str:
    """``error.type`` of an exception: its class's qualified name (``builtins`` ones bare)."""
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _mark_error(span: Any, error_type: str) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", error_type)
    span.set_status(Status(StatusCode.ERROR, error_type))


class _NoOpCall:
    """What a call gets when tracing is off: every method does nothing."""

    __slots__ = ()
    #: Whether ``record`` keeps anything: a caller skips work whose only use is a span.
    recording = False

    def __enter__(self) -> _NoOpCall:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    async def __aenter__(self) -> _NoOpCall:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    def record(self, **_values: Any) -> None:
        return None


_NOOP = _NoOpCall()


class _SyncOrAsync:
    """``async with`` does what ``with`` does: nothing in a span's start or end waits on I/O."""

    __slots__ = ()

    def __enter__(self) -> Self:
        raise NotImplementedError

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)


class ModelCallSpan(_SyncOrAsync):
    """The span of one model call: started on enter, ended on leave; an exception marks it failed,
    with its own class as ``error.type`` unless :meth:`record` named one already (the class the caller
    turns the client's exception into).

    Use :func:`model_call_span` (or :meth:`SpanBudget.call`) to get one.
    """

    __slots__ = ("_attributes", "_failed", "_name", "_parent", "_span", "_token", "_tracer")
    recording = True

    def __init__(self, tracer: Any, name: str, attributes: dict[str, Any], parent: Any = None) -> None:
        self._tracer = tracer
        self._name = name
        self._attributes = attributes
        self._parent = parent
        self._span: Any = None
        self._token: Any = None
        self._failed = False

    def __enter__(self) -> ModelCallSpan:
        from opentelemetry import context, trace

        self._span = self._tracer.start_span(
            self._name, context=self._parent, kind=trace.SpanKind.CLIENT, attributes=self._attributes
        )
        # Current while the call runs, so spans of the HTTP client (if instrumented) nest under it.
        self._token = context.attach(trace.set_span_in_context(self._span))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        from opentelemetry import context

        if exc is not None and not self._failed:
            _mark_error(self._span, error_type_of(exc))
        context.detach(self._token)
        self._span.end()

    def record(
        self,
        *,
        response_model: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        finish_reasons: Iterable[str] | None = None,
        provider: str | None = None,
        error_type: str | None = None,
    ) -> None:
        """What the call returned; ``None`` leaves an attribute unset.

        :param response_model: the model that answered (``gen_ai.response.model``).
        :param input_tokens: prompt tokens (``gen_ai.usage.input_tokens``).
        :param output_tokens: completion tokens (``gen_ai.usage.output_tokens``).
        :param finish_reasons: e.g. ``["stop"]`` (``gen_ai.response.finish_reasons``).
        :param provider: the inference provider that served the call, when known only from the reply.
        :param error_type: marks the call failed without an exception (a row a batch records as failed).
        """
        span = self._span
        if span is None:
            raise RuntimeError("record() belongs inside the span's with block")
        if response_model:
            span.set_attribute("gen_ai.response.model", response_model)
        if input_tokens is not None:
            span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
        if output_tokens is not None:
            span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
        if finish_reasons:
            span.set_attribute("gen_ai.response.finish_reasons", [str(reason) for reason in finish_reasons])
        if provider:
            span.set_attribute("gen_ai.provider.name", provider)
        if error_type:
            _mark_error(span, error_type)
            self._failed = True


def model_call_span(
    operation: str,
    *,
    model: str | None,
    provider: str = DEFAULT_PROVIDER,
    server: str | None = None,
) -> ModelCallSpan | _NoOpCall:
    """The span of one model call, or a do-nothing stand-in when tracing is off.

    :param operation: ``"chat"`` or ``"embeddings"``.
    :param model: the model asked for.
    :param provider: ``gen_ai.provider.name`` (:func:`genai_provider_name`).
    :param server: the endpoint URL the call goes to, if any (``server.address``/``server.port``).
    """
    tracer_provider = _provider()
    if tracer_provider is None:
        return _NOOP
    return ModelCallSpan(
        _tracer(tracer_provider),
        _span_name(operation, model),
        _base_attributes(operation, model, provider, server),
    )
