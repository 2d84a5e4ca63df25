"""Spans of model calls, exported by OpenTelemetry's SDK into memory.

``otel`` (``conftest.py``) installs an SDK tracer provider with an in-memory exporter as OpenTelemetry's
global one, as Airflow's ``[traces] otel_on`` does in its processes, and puts the previous one back.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode
from packaging.version import Version

from airflow_provider_huggingface.exceptions import ModelNotFoundError
from airflow_provider_huggingface.observability import tracing
from airflow_provider_huggingface.observability.span_budget import SpanBudget
from airflow_provider_huggingface.observability.tracing import (
    genai_provider_name,
    model_call_span,
    tracing_enabled,
)
from tests.airflow_internals import AIRFLOW
from tests.observability.otel import call_spans, global_tracer_provider

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

MODEL = "mistralai/Mistral-7B-Instruct-v0.3"
CANARY = "CANARY-PROMPT-TEXT in an error message"


def test_off_without_a_configured_provider() -> None:
    # The session never configures one: OpenTelemetry's placeholder provider is what Airflow leaves
    # when [traces] otel_on is off.
    assert not tracing_enabled()
    call = model_call_span("chat", model=MODEL)
    with call as same:
        same.record(response_model=MODEL, input_tokens=1)
    assert call is tracing._NOOP
    assert SpanBudget(model=MODEL).call() is tracing._NOOP


def test_one_client_span_per_call_with_the_genai_attributes(otel: InMemorySpanExporter) -> None:
    assert tracing_enabled()
    for tokens in (11, 12):
        with model_call_span(
            "chat", model=MODEL, provider="huggingface", server="https://xyz.endpoints.huggingface.cloud/v1"
        ) as call:
            call.record(
                response_model=f"{MODEL}-served",
                input_tokens=tokens,
                output_tokens=5,
                finish_reasons=["stop"],
            )
    spans = call_spans(otel)
    assert len(spans) == 2
    span = spans[0]
    assert span.name == f"chat {MODEL}"
    assert span.kind == SpanKind.CLIENT
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": MODEL,
        "gen_ai.provider.name": "huggingface",
        "server.address": "xyz.endpoints.huggingface.cloud",
        "server.port": 443,
        "gen_ai.response.model": f"{MODEL}-served",
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.response.finish_reasons": ("stop",),
    }
    assert span.status.status_code == StatusCode.UNSET
    assert spans[1].attributes["gen_ai.usage.input_tokens"] == 12


def test_embeddings_span_and_a_provider_named_by_the_router(otel: InMemorySpanExporter) -> None:
    with model_call_span(
        "embeddings", model="BAAI/bge-small-en-v1.5", provider=genai_provider_name(requested="auto")
    ) as call:
        call.record(provider="hf-inference", input_tokens=4)
    (span,) = call_spans(otel)
    assert span.name == "embeddings BAAI/bge-small-en-v1.5"
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.provider.name"] == "hf-inference"
    assert "server.address" not in span.attributes


def test_a_failed_call_is_marked_by_its_error_type_alone(otel: InMemorySpanExporter) -> None:
    with pytest.raises(ModelNotFoundError), model_call_span("chat", model=MODEL):
        raise ModelNotFoundError(CANARY)
    (span,) = call_spans(otel)
    assert span.attributes["error.type"] == "airflow_provider_huggingface.exceptions.ModelNotFoundError"
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "airflow_provider_huggingface.exceptions.ModelNotFoundError"
    assert not span.events  # no exception event: its message may quote the prompt
    assert CANARY not in repr(span.to_json())


def test_an_error_recorded_without_an_exception(otel: InMemorySpanExporter) -> None:
    with model_call_span("chat", model=MODEL) as call:
        call.record(error_type="TimeoutError")
    (span,) = call_spans(otel)
    assert (span.attributes["error.type"], span.status.status_code) == ("TimeoutError", StatusCode.ERROR)


def test_call_spans_are_children_of_the_current_span(otel: InMemorySpanExporter) -> None:
    # As in an Airflow task: the task runner makes its span current before execute runs.
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("worker.summarize") as task_span:
        with model_call_span("chat", model=MODEL):
            inner = trace.get_current_span()  # the call's span is current while the call runs
        assert trace.get_current_span() is task_span
    (span,) = call_spans(otel)
    assert span.parent is not None
    assert span.parent.span_id == task_span.get_span_context().span_id
    assert inner.get_span_context().span_id == span.context.span_id


def test_async_calls_each_get_their_span_under_the_task_span(otel: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("test")

    async def one(i: int) -> None:
        async with model_call_span("chat", model=MODEL) as call:
            await asyncio.sleep(0.01)
            call.record(input_tokens=i)

    async def batch() -> None:
        await asyncio.gather(*(one(i) for i in range(5)))

    with tracer.start_as_current_span("worker.batch") as task_span:
        asyncio.run(batch())
    spans = call_spans(otel)
    assert sorted(s.attributes["gen_ai.usage.input_tokens"] for s in spans) == [0, 1, 2, 3, 4]
    assert {s.parent.span_id for s in spans} == {task_span.get_span_context().span_id}


def test_provider_name_prefers_who_served() -> None:
    assert genai_provider_name(served_by="groq", requested="together") == "groq"
    assert genai_provider_name(requested="together") == "together"
    assert genai_provider_name(requested="auto") == "huggingface"
    assert genai_provider_name() == "huggingface"


def test_inside_airflows_own_task_span(otel: InMemorySpanExporter) -> None:
    """From Airflow 3.2 the task runner (``main``) opens ``worker.<task_id>`` as the current span and runs
    ``execute`` in a copy of the context taken inside it (3.3: ``_run_execute_callable``; 3.2:
    ``_execute_task``): a call's span made in ``execute`` is that span's child. Airflow 3.0 and 3.1 open
    no task span, so a call's span starts a trace of its own there. ``dag.test()`` skips ``main``."""
    import contextvars
    from types import SimpleNamespace

    from airflow.sdk.execution_time import task_runner

    def execute(context: Any) -> str:
        with model_call_span("chat", model=MODEL) as call:
            call.record(input_tokens=7)
        return "done"

    if Version("3.2") > AIRFLOW:
        assert not hasattr(task_runner, "_make_task_span")
        assert contextvars.copy_context().run(execute, context={}) == "done"
        (call_span,) = call_spans(otel)
        assert call_span.parent is None
        return
    ti = SimpleNamespace(
        context_carrier=None, task_id="summarize", map_index=-1, dag_id="d", run_id="r", try_number=1
    )
    with task_runner._make_task_span(SimpleNamespace(ti=ti)):
        if hasattr(task_runner, "_run_execute_callable"):  # 3.3
            task = SimpleNamespace(execution_timeout=None)
            assert task_runner._run_execute_callable({}, execute, task) == "done"
        else:  # 3.2 copies the context in _execute_task, around the same call
            assert contextvars.copy_context().run(execute, context={}) == "done"
    finished = {s.name: s for s in otel.get_finished_spans()}
    task_span, call_span = finished["worker.summarize"], finished[f"chat {MODEL}"]
    assert call_span.parent.span_id == task_span.context.span_id
    assert call_span.context.trace_id == task_span.context.trace_id


def test_a_provider_named_by_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenTelemetry's API builds the provider that ``OTEL_PYTHON_TRACER_PROVIDER`` names on first use."""
    monkeypatch.setenv("OTEL_PYTHON_TRACER_PROVIDER", "sdk_tracer_provider")
    tracing._provider_from_environment.cache_clear()
    try:
        with global_tracer_provider(None):
            assert tracing_enabled()
            assert isinstance(trace.get_tracer_provider(), TracerProvider)
    finally:
        tracing._provider_from_environment.cache_clear()


def test_an_error_named_by_the_caller_outlasts_the_exception(otel: InMemorySpanExporter) -> None:
    # The hook names the error the task meets (its mapped class), then lets the client's one go on.
    budget = SpanBudget(model=MODEL, per_call=1, window=1)

    def fail(call: Any) -> None:
        with call:
            call.record(error_type="mapped.ModelNotFoundError")
            raise KeyError(CANARY)

    for call in (model_call_span("chat", model=MODEL), budget.call(), budget.call()):
        assert call.recording
        with pytest.raises(KeyError):
            fail(call)
    budget.close()
    spans = call_spans(otel)
    assert len(spans) == 3
    assert {s.attributes["error.type"] for s in spans} == {"mapped.ModelNotFoundError"}
    assert not tracing._NOOP.recording  # tracing off: the hook maps no error for a span
