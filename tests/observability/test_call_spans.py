"""One OpenTelemetry span per request of the real hook and the real batch operator, over real HTTP to
the fake, exported into memory (``otel``): the GenAI attributes, the provider that served (the router's
``x-inference-provider``), errors marked, a retry and a fallback each a span of their own, and a
batch's spans bounded as :class:`~airflow_provider_huggingface.observability.span_budget.SpanBudget` says."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from airflow_provider_huggingface.exceptions import InvalidRequestError
from airflow_provider_huggingface.observability.tracing import DEFAULT_PER_CALL, DEFAULT_WINDOW
from tests.conftest import HOOK_TOKEN
from tests.fakes.hf_api import Fault
from tests.observability.otel import call_spans

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

MISTRAL = "mistralai/Mistral-7B-Instruct-v0.3"
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
CANARY = "CANARY-PROMPT-TEXT"


@pytest.fixture
def served_router(router_hook: Any, hub_redirect: Any) -> Any:
    hub_redirect.served_by = "together"
    return router_hook


def _attributes(span: ReadableSpan) -> dict[str, Any]:
    return {
        name: (list(value) if isinstance(value, tuple) else value) for name, value in span.attributes.items()
    }


def _assert_answered(span: ReadableSpan, result: dict[str, Any], *, provider: str) -> None:
    usage = result["usage"]
    assert span.name == f"chat {result['model']}"
    assert span.kind == SpanKind.CLIENT
    assert span.status.status_code == StatusCode.UNSET
    assert _attributes(span) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": result["model"],
        "gen_ai.response.model": result["model"],
        "gen_ai.provider.name": provider,
        "gen_ai.usage.input_tokens": usage["prompt_tokens"],
        "gen_ai.usage.output_tokens": usage["completion_tokens"],
        "gen_ai.response.finish_reasons": ["stop"],
    }


def test_a_sync_chat_makes_one_span_naming_the_provider_that_served(
    otel: InMemorySpanExporter, served_router: Any
) -> None:
    result = served_router.chat(user_prompt=f"Hi {CANARY}", model=MISTRAL)
    (span,) = call_spans(otel)
    _assert_answered(span, result, provider="together")
    assert CANARY not in json.dumps(span.to_json())


def test_an_async_chat_makes_one_span(otel: InMemorySpanExporter, served_router: Any) -> None:
    result = asyncio.run(served_router.achat(user_prompt="Hi", model=MISTRAL))
    (span,) = call_spans(otel)
    _assert_answered(span, result, provider="together")


def test_a_streamed_chat_makes_one_span_with_the_streams_usage(
    otel: InMemorySpanExporter, served_router: Any
) -> None:
    result = served_router.chat(user_prompt="Hi there", model=MISTRAL, stream=True)
    assert result["usage"]["completion_tokens"] == 4
    (span,) = call_spans(otel)
    _assert_answered(span, result, provider="together")


def test_the_router_without_a_served_by_header_is_named_huggingface(
    otel: InMemorySpanExporter, router_hook: Any
) -> None:
    result = router_hook.chat(user_prompt="Hi", model=MISTRAL)
    assert "provider" not in result  # provider "auto", and the router named none
    (span,) = call_spans(otel)
    _assert_answered(span, result, provider="huggingface")


def test_an_endpoint_span_names_the_server(
    otel: InMemorySpanExporter, endpoint_hook: Any, fake_hf: Any
) -> None:
    endpoint_hook.chat(user_prompt="Hi")
    (span,) = call_spans(otel)
    host, port = fake_hf.url.removeprefix("http://").split(":")
    attributes = _attributes(span)
    assert (attributes["server.address"], attributes["server.port"]) == (host, int(port))
    assert attributes["gen_ai.provider.name"] == "huggingface"
    assert attributes["gen_ai.response.model"] == "fake-model"  # the server's own model
    assert "gen_ai.request.model" not in attributes


def test_a_failed_request_is_marked_by_its_type_alone(
    otel: InMemorySpanExporter, served_router: Any, hub_redirect: Any
) -> None:
    hub_redirect.enqueue(Fault.status(400, {"error": f"bad request quoting {CANARY}"}))
    with pytest.raises(InvalidRequestError):
        served_router.chat(user_prompt="Hi", model=MISTRAL)
    (span,) = call_spans(otel)
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "airflow_provider_huggingface.exceptions.InvalidRequestError"
    assert "gen_ai.response.model" not in span.attributes
    assert CANARY not in json.dumps(span.to_json())  # a server's message may quote the prompt


def test_each_retry_is_a_span_of_its_own(
    otel: InMemorySpanExporter, served_router: Any, hub_redirect: Any
) -> None:
    hub_redirect.enqueue(Fault.server_error(502), Fault.rate_limited(retry_after=0))
    result = served_router.chat(user_prompt="Hi", model=MISTRAL)
    spans = call_spans(otel)
    assert len(spans) == 3
    assert [s.status.status_code for s in spans] == [StatusCode.ERROR, StatusCode.ERROR, StatusCode.UNSET]
    assert [s.attributes["error.type"].rpartition(".")[2] for s in spans[:2]] == [
        "ServiceUnavailableError",
        "RateLimitError",
    ]
    _assert_answered(spans[2], result, provider="together")


def test_a_fallback_is_a_span_naming_the_model_it_asked(
    otel: InMemorySpanExporter, served_router: Any, hub_redirect: Any
) -> None:
    hub_redirect.model_faults = {MISTRAL: Fault.status(404, {"error": f"Model {MISTRAL} not found"})}
    result = served_router.chat(user_prompt="Hi", model=MISTRAL, fallback_models=[LLAMA])
    assert result["model"] == LLAMA
    gone, answered = call_spans(otel)
    assert gone.attributes["gen_ai.request.model"] == MISTRAL
    assert gone.status.status_code == StatusCode.ERROR
    _assert_answered(answered, result, provider="together")


def test_a_batch_makes_a_bounded_number_of_spans(
    otel: InMemorySpanExporter, hub_redirect: Any, use_connection: Any, run_dag: Any
) -> None:
    use_connection("hf_fake", password=HOOK_TOKEN, extra={"default_model": MISTRAL})
    hub_redirect.served_by = "together"
    items = [{"q": f"q{i}"} for i in range(DEFAULT_PER_CALL + DEFAULT_WINDOW + 20)]
    run = run_dag("hf_batch", run_conf={"items": items})
    assert run.state == "success", run.states
    summary = run.xcom["batch"]
    spans = call_spans(otel)
    # One span per call for the first DEFAULT_PER_CALL calls, then one per window of DEFAULT_WINDOW.
    assert len(spans) == DEFAULT_PER_CALL + 2
    own = [s for s in spans if "huggingface.calls" not in s.attributes]
    windows = [s for s in spans if "huggingface.calls" in s.attributes]
    assert len(own) == DEFAULT_PER_CALL
    assert sorted(w.attributes["huggingface.calls"] for w in windows) == [20, DEFAULT_WINDOW]
    assert all(w.attributes["huggingface.failed_calls"] == 0 for w in windows)
    # Every call is counted once, its tokens too, and each names who served it.
    assert sum(s.attributes["gen_ai.usage.input_tokens"] for s in spans) == summary["usage"]["prompt_tokens"]
    assert (
        sum(s.attributes["gen_ai.usage.output_tokens"] for s in spans)
        == summary["usage"]["completion_tokens"]
    )
    assert {s.attributes["gen_ai.provider.name"] for s in spans} == {"together"}
    assert {s.attributes["gen_ai.response.model"] for s in spans} == {MISTRAL}
