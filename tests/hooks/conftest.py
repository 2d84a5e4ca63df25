from __future__ import annotations

import json

import pytest

from airflow_provider_huggingface import models
from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook

TOKEN = "hf_canarytokenforhooktests0001"


@pytest.fixture
def make_hook(monkeypatch):
    """Build a hook over a connection given as keyword arguments (``extra`` as a dict)."""

    def make(conn_id: str = "hf_test", **conn):
        conn.setdefault("conn_type", "huggingface")
        conn.setdefault("extra", {})
        conn["extra"].setdefault("backoff", 0.01)
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return HuggingFaceHook(hf_conn_id=conn_id)

    models.clear_cache()
    yield make
    models.clear_cache()
