"""How a batch's calls run (batch/calls.py): its event loop, even under one already running."""

from __future__ import annotations

from tests.batch.stubs import operator, stub_context


def test_a_batch_runs_from_inside_a_running_event_loop(fake_conn):
    import asyncio

    async def inside() -> dict:
        return operator(inputs=["a", "b"]).execute(stub_context())

    assert [r["text"] for r in asyncio.run(inside())["results"]] == ["re: a", "re: b"]
