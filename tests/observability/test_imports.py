"""Importing the observability modules costs nothing of OpenLineage or OpenTelemetry's SDK.

Each check runs in a fresh interpreter, with the OpenLineage provider and the SDK installed (as they are
in the test environment), so a module-level import of either would show."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FORBIDDEN = ("airflow.providers.openlineage", "openlineage", "opentelemetry.sdk", "attrs")


@pytest.mark.parametrize(
    ("module", "preload"),
    [
        ("airflow_provider_huggingface.observability.lineage", "json"),
        ("airflow_provider_huggingface.observability.tracing", "json"),
        ("airflow_provider_huggingface.observability.span_budget", "json"),
        ("airflow_provider_huggingface.observability.mixin", "json"),
        # The link imports airflow.sdk, as any DAG file does first; Airflow's own provider discovery
        # then reads every provider's info (the OpenLineage provider's too), which is not ours to count.
        ("airflow_provider_huggingface.links.huggingface", "airflow.sdk"),
    ],
)
def test_import_loads_neither_openlineage_nor_the_otel_sdk(module: str, preload: str) -> None:
    code = (
        f"import json, sys, {preload}\n"
        "before = set(sys.modules)\n"
        f"import {module}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = json.loads(result.stdout.splitlines()[-1])
    assert module in loaded
    offending = [name for name in loaded if name.startswith(FORBIDDEN)]
    assert not offending, offending


def test_both_are_installed_here_so_the_check_means_something() -> None:
    import airflow.providers.openlineage
    import opentelemetry.sdk.trace

    assert airflow.providers.openlineage.__version__
    assert opentelemetry.sdk.trace.TracerProvider


def test_an_operator_module_loads_the_mixin_but_not_the_lineage_module() -> None:
    # What a DAG file pays at every parse: the lineage facts and the facet code load when a task runs.
    code = (
        "import json, sys, airflow.sdk\n"
        "import airflow_provider_huggingface.operators.huggingface\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('airflow_provider_huggingface'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = json.loads(result.stdout.splitlines()[-1])
    assert "airflow_provider_huggingface.observability.mixin" in loaded
    lazy = {
        "airflow_provider_huggingface.observability.lineage",
        "airflow_provider_huggingface.observability.tracing",
        "airflow_provider_huggingface._internal.observed",
    }
    assert not lazy & set(loaded)
