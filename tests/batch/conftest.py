"""Fixtures of the batch tests that call the batch operator's ``execute()`` against the local fake."""

from __future__ import annotations

import pytest


@pytest.fixture
def fake_conn(fake_hf, use_connection):
    use_connection("hf_fake", host=fake_hf.url, password="hf_batchpartscanary00001", extra={"max_retries": 8})
    fake_hf.reply = lambda body: f"re: {body['messages'][-1]['content']}"
    return fake_hf
