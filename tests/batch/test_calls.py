"""How a batch's calls run (batch/calls.py): its event loop, even under one already running."""

from __future__ import annotations

import pytest

from tests.batch.stubs import operator, stub_context


def test_a_batch_runs_from_inside_a_running_event_loop(fake_conn):
    import asyncio

    async def inside() -> dict:
        return operator(inputs=["a", "b"]).execute(stub_context())

    assert [r["text"] for r in asyncio.run(inside())["results"]] == ["re: a", "re: b"]


def test_what_a_batch_raises_is_not_chained_to_the_event_loop_lookup():
    from airflow_provider_huggingface.batch.calls import run_to_end

    async def crash() -> None:
        raise ValueError("the real cause")

    with pytest.raises(ValueError, match="the real cause") as raised:
        run_to_end(crash())
    assert raised.value.__context__ is None  # not "RuntimeError: no running event loop"
