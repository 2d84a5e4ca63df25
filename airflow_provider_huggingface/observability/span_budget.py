"""``SpanBudget``: the spans of a task's many model calls, bounded (see :mod:`.tracing`, *Batches*)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface.observability.tracing import (
    _NOOP,
    DEFAULT_PER_CALL,
    DEFAULT_PROVIDER,
    DEFAULT_WINDOW,
    ModelCallSpan,
    _base_attributes,
    _mark_error,
    _NoOpCall,
    _provider,
    _span_name,
    _SyncOrAsync,
    _tracer,
    error_type_of,
)

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["SpanBudget"]


class _Window:
    """The calls of one window, summed."""

    __slots__ = (
        "calls",
        "end",
        "error_type",
        "failed",
        "input_tokens",
        "output_tokens",
        "providers",
        "responses",
        "start",
    )

    def __init__(self) -> None:
        self.calls = 0
        self.failed = 0
        self.start: int | None = None
        self.end = 0
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.error_type: str | None = None
        self.responses: set[str] = set()
        self.providers: set[str] = set()


class _WindowCall(_SyncOrAsync):
    """One call counted in its budget's current window instead of a span of its own."""

    __slots__ = ("_budget", "_start", "_values")
    recording = True

    def __init__(self, budget: SpanBudget) -> None:
        self._budget = budget
        self._start = 0
        self._values: dict[str, Any] = {}

    def __enter__(self) -> _WindowCall:
        self._start = time.time_ns()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            self._values.setdefault("error_type", error_type_of(exc))
        self._budget._add(self._start, time.time_ns(), self._values)

    def record(self, **values: Any) -> None:
        """As :meth:`ModelCallSpan.record`: summed into the window's span."""
        self._values.update((name, value) for name, value in values.items() if value is not None)


class SpanBudget:
    """Spans for the many calls of one task, bounded: one per call up to ``per_call``, then one per
    ``window`` calls. Create it in ``execute`` (its parent is the span current then: the task's), get
    each call's span from :meth:`call`, and :meth:`close` it (or use it as a context manager) when the
    calls are done, to send the last, partial window.

    :param operation: ``"chat"`` or ``"embeddings"``.
    :param model: the model the calls ask for (a call may name another: :meth:`call`).
    :param provider: ``gen_ai.provider.name``.
    :param server: the endpoint URL, if any.
    :param per_call: calls that get a span each.
    :param window: calls summed into one span after that.
    """

    def __init__(
        self,
        *,
        operation: str = "chat",
        model: str | None,
        provider: str = DEFAULT_PROVIDER,
        server: str | None = None,
        per_call: int = DEFAULT_PER_CALL,
        window: int = DEFAULT_WINDOW,
    ) -> None:
        if per_call < 0 or window < 1:
            raise ValueError(f"per_call must be 0 or more and window 1 or more, not {per_call} and {window}")
        self.operation = operation
        self.model = model
        self.provider = provider
        self.server = server
        self.per_call = per_call
        self.window = window
        self.spans = 0  # spans started so far: the bound is testable
        self._lock = threading.Lock()
        self._started = 0
        self._current = _Window()
        tracer_provider = _provider()
        self._tracer = None if tracer_provider is None else _tracer(tracer_provider)
        self._parent: Any = None
        if self._tracer is not None:
            from opentelemetry import context

            self._parent = context.get_current()

    def call(self, *, model: str | None = None) -> ModelCallSpan | _WindowCall | _NoOpCall:
        """The span (or window slot) of the next call.

        :param model: the model this call asks for, if not the budget's (a fallback).
        """
        if self._tracer is None:
            return _NOOP
        with self._lock:
            self._started += 1
            own_span = self._started <= self.per_call
            if own_span:
                self.spans += 1
        if not own_span:
            return _WindowCall(self)
        model = model or self.model
        return ModelCallSpan(
            self._tracer,
            _span_name(self.operation, model),
            _base_attributes(self.operation, model, self.provider, self.server),
            self._parent,
        )

    def _add(self, start: int, end: int, values: dict[str, Any]) -> None:
        with self._lock:
            window = self._current
            window.calls += 1
            window.start = start if window.start is None else min(window.start, start)
            window.end = max(window.end, end)
            for name in ("input_tokens", "output_tokens"):
                if name in values:
                    setattr(window, name, (getattr(window, name) or 0) + values[name])
            if "response_model" in values:
                window.responses.add(values["response_model"])
            if "provider" in values:
                window.providers.add(values["provider"])
            if "error_type" in values:
                window.failed += 1
                window.error_type = window.error_type or values["error_type"]
            if window.calls < self.window:
                return
            self._current = _Window()
            self.spans += 1
        self._emit(window)

    def _emit(self, window: _Window) -> None:
        attributes = _base_attributes(self.operation, self.model, self.provider, self.server)
        attributes["huggingface.calls"] = window.calls
        attributes["huggingface.failed_calls"] = window.failed
        if len(window.responses) == 1:
            attributes["gen_ai.response.model"] = next(iter(window.responses))
        elif window.responses:
            attributes["huggingface.response_models"] = sorted(window.responses)
        if len(window.providers) == 1:
            attributes["gen_ai.provider.name"] = next(iter(window.providers))
        if window.input_tokens is not None:
            attributes["gen_ai.usage.input_tokens"] = window.input_tokens
        if window.output_tokens is not None:
            attributes["gen_ai.usage.output_tokens"] = window.output_tokens
        from opentelemetry import trace

        if self._tracer is None:  # windows fill only in a budget that has a tracer
            return
        span = self._tracer.start_span(
            _span_name(self.operation, self.model),
            context=self._parent,
            kind=trace.SpanKind.CLIENT,
            attributes=attributes,
            start_time=window.start,
        )
        if window.error_type:
            _mark_error(span, window.error_type)
        span.end(end_time=window.end)

    def close(self) -> None:
        """Send the last, partial window's span (if any calls are in it)."""
        with self._lock:
            window, self._current = self._current, _Window()
            if not window.calls:
                return
            self.spans += 1
        self._emit(window)

    def __enter__(self) -> SpanBudget:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
