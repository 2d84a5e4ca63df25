"""Test session set-up. Airflow reads its configuration at import, so the environment is set
here, before anything imports airflow."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
_TESTS = Path(__file__).parent

os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(_TESTS / "dags"),
        # Two DAG bundles, so dag.test() can serialize both the test DAGs and the example DAGs.
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
            [
                {
                    "name": name,
                    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                    "kwargs": {"path": str(path)},
                }
                for name, path in (("tests", _TESTS / "dags"), ("examples", _TESTS.parent / "example_dags"))
            ]
        ),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        # A fixed test key: without one Airflow silently stores passwords in plain text.
        "AIRFLOW__CORE__FERNET_KEY": "SGbR3ywB6A1Jx0OEGxV2w9yJDRe0L-5fMIvhe8jN7RM=",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        # No saved login of this machine may leak into a test.
        "HF_HOME": str(_HOME / "huggingface"),
    }
)
# An ambient token must never be what a test relies on, nor what it sends.
for _name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_ENDPOINT"):
    os.environ.pop(_name, None)

from tests.airflow_internals import (  # noqa: E402 (after the environment)
    parse_each_bundle_once,
    plain_console_tracebacks,
    share_in_process_execution_api,
)

plain_console_tracebacks()

pytest_plugins = [
    "tests.fakes.plugin",
    "tests.dag_runs",
    "tests.llama.plugin",
    "tests.ui.plugin",
    "tests.integration.plugin",
    "tests.scale.plugin",
    "tests.vectorstore.plugin",
]


@pytest.fixture(scope="session")
def airflow_db():
    """A fresh metadata DB (SQLite) for the session: real task instances, real XCom."""
    from airflow.utils import db

    db.resetdb()
    share_in_process_execution_api()
    parse_each_bundle_once()


@pytest.fixture
def make_hook(monkeypatch):
    """Build a hook over a connection given as keyword arguments (``extra`` as a dict)."""

    from airflow_provider_huggingface._internal import model_check as models
    from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook

    def make(conn_id: str = "hf_test", **conn):
        conn.setdefault("conn_type", "huggingface")
        conn.setdefault("extra", {})
        conn["extra"].setdefault("backoff", 0.01)
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return HuggingFaceHook(hf_conn_id=conn_id)

    models.clear_cache()
    yield make
    models.clear_cache()


HOOK_TOKEN = "hf_canarytokenforhooktests0001"  # the token of endpoint_hook and router_hook


@pytest.fixture
def endpoint_hook(fake_hf, make_hook):
    return make_hook(host=fake_hf.url, password=HOOK_TOKEN, extra={"timeout": 2, "max_retries": 3})


@pytest.fixture
def router_hook(hub_redirect, make_hook):
    return make_hook(password=HOOK_TOKEN, extra={"bill_to": "acme", "max_retries": 3})
