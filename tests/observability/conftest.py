"""Fixtures of the observability tests: ``otel``, spans exported into memory (see ``otel.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.observability.otel import exporting_spans

if TYPE_CHECKING:
    from collections.abc import Iterator

    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@pytest.fixture
def otel() -> Iterator[InMemorySpanExporter]:
    with exporting_spans() as exporter:
        yield exporter
