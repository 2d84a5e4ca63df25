"""A task's many call spans, bounded by ``SpanBudget``: exported by OpenTelemetry's SDK into memory
(``otel``, ``conftest.py``)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import StatusCode

from airflow_provider_huggingface.exceptions import ModelNotFoundError
from airflow_provider_huggingface.observability.span_budget import SpanBudget
from tests.observability.otel import call_spans

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

MODEL = "mistralai/Mistral-7B-Instruct-v0.3"
CANARY = "CANARY-PROMPT-TEXT in an error message"


def test_budget_one_span_per_call_then_one_per_window(otel: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("test")
    with (
        tracer.start_as_current_span("worker.batch") as task_span,
        SpanBudget(model=MODEL, per_call=3, window=4) as budget,
    ):
        for i in range(12):  # 3 own spans, then windows of 4, 4 and a last one of 1
            with budget.call() as call:
                call.record(response_model=MODEL, input_tokens=1, output_tokens=i)
    spans = call_spans(otel)
    assert budget.spans == len(spans) == 6 == 3 + -(-(12 - 3) // 4)
    assert {s.parent.span_id for s in spans} == {task_span.get_span_context().span_id}
    windows = [s for s in spans if "huggingface.calls" in s.attributes]
    assert [w.attributes["huggingface.calls"] for w in windows] == [4, 4, 1]
    assert [w.attributes["gen_ai.usage.output_tokens"] for w in windows] == [
        3 + 4 + 5 + 6,
        7 + 8 + 9 + 10,
        11,
    ]
    assert all(w.attributes["gen_ai.response.model"] == MODEL for w in windows)
    assert all(w.start_time <= w.end_time for w in windows)


def test_budget_window_marks_its_errors_and_counts_them(otel: InMemorySpanExporter) -> None:
    budget = SpanBudget(model=MODEL, per_call=0, window=3)
    for i in range(3):
        with contextlib.suppress(ModelNotFoundError), budget.call():
            if i == 1:
                raise ModelNotFoundError(CANARY)
    budget.close()
    (window,) = call_spans(otel)
    assert window.attributes["huggingface.failed_calls"] == 1
    assert window.attributes["error.type"] == "airflow_provider_huggingface.exceptions.ModelNotFoundError"
    assert window.status.status_code == StatusCode.ERROR
    assert CANARY not in repr(window.to_json())


def test_budget_threads_share_the_bound(otel: InMemorySpanExporter) -> None:
    from concurrent.futures import ThreadPoolExecutor

    budget = SpanBudget(model=MODEL, per_call=10, window=25)

    def one(_: int) -> None:
        with budget.call() as call:
            call.record(input_tokens=1)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(200)))
    budget.close()
    spans = call_spans(otel)
    assert len(spans) == 10 + 190 // 25 + 1
    assert sum(s.attributes.get("huggingface.calls", 1) for s in spans) == 200
    assert sum(s.attributes["gen_ai.usage.input_tokens"] for s in spans) == 200
