"""The agents package costs a DAG file no provider import: hooks, sqlparse and HTTP clients load on
the first tool call."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFERRED = [
    "airflow.providers.common.sql.hooks.sql",
    "airflow.providers.http.hooks.http",
    "airflow.providers.sqlite.hooks.sqlite",
    "sqlparse",
    "huggingface_hub",
]


def test_building_tools_imports_no_provider_hook():
    script = (
        "import json, sys\n"
        "from airflow_provider_huggingface.agents.http import http_tool\n"
        "from airflow_provider_huggingface.agents.sql import sql_tool\n"
        "from airflow_provider_huggingface.agents.tools import resolve_tools\n"
        "def lookup(order_id: int) -> str:\n"
        "    '''Look an order up.'''\n"
        "    return ''\n"
        "resolve_tools([lookup, sql_tool(conn_id='db'), http_tool(conn_id='api')])\n"
        f"print(json.dumps([name for name in {DEFERRED!r} if name in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
