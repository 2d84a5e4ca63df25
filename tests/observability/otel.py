"""OpenTelemetry in the tests: an SDK tracer provider with an in-memory exporter made OpenTelemetry's
global one for a while, as Airflow's ``[traces] otel_on`` does in its processes."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from airflow_provider_huggingface.observability import tracing

if TYPE_CHECKING:
    from collections.abc import Iterator

    from opentelemetry.sdk.trace import ReadableSpan


@contextlib.contextmanager
def global_tracer_provider(provider: Any) -> Iterator[None]:
    """Make ``provider`` OpenTelemetry's global one for a while (the API lets it be set only once);
    None leaves it unset, for the API to set on first use."""
    saved, saved_done = trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE._done
    trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE._done = None, False
    if provider is not None:
        trace.set_tracer_provider(provider)
    try:
        yield
    finally:
        trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE._done = saved, saved_done


@contextlib.contextmanager
def exporting_spans() -> Iterator[InMemorySpanExporter]:
    """An in-memory exporter fed by a global SDK tracer provider, for the ``with`` block."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with global_tracer_provider(provider):
        yield exporter


def call_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """The finished spans of this package's model calls, in the order they ended."""
    return [s for s in exporter.get_finished_spans() if s.instrumentation_scope.name == tracing.TRACER_NAME]
