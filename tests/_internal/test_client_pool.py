"""The event loop's shared clients, driven by real triggers against the local fake over real HTTP."""

from __future__ import annotations

import asyncio
import time

from airflow_provider_huggingface._internal import client_pool
from airflow_provider_huggingface._internal.client_pool import ClientPool, current_pool, pool_key
from airflow_provider_huggingface.triggers.huggingface import HuggingFaceChatTrigger

OLD_TOKEN = "hf_poolOldToken0000000001"
NEW_TOKEN = "hf_poolNewToken0000000002"


def trigger(conn_id: str = "hf_pool") -> HuggingFaceChatTrigger:
    return HuggingFaceChatTrigger(
        hf_conn_id=conn_id, model=None, messages=[{"role": "user", "content": "Hi"}], generation={}
    )


async def fire(n: int, conn_id: str = "hf_pool") -> list[dict]:
    async def one() -> dict:
        events = [event async for event in trigger(conn_id).run()]
        return events[0].payload

    return await asyncio.gather(*(one() for _ in range(n)))


def wait_until(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_triggers_of_one_connection_share_one_client_and_its_connections(fake_hf, make_hook):
    make_hook("hf_pool", host=fake_hf.url, password=OLD_TOKEN)
    fake_hf.latency = 0.3

    async def main() -> tuple[list[dict], ClientPool]:
        payloads = await fire(30)
        return payloads, current_pool()

    payloads, pool = asyncio.run(main())
    assert [p["status"] for p in payloads] == ["success"] * 30
    assert pool.clients_built == 1
    assert fake_hf.connections_opened <= 30

    async def two_waves() -> None:
        await fire(30)
        await fire(30)

    fake_hf.reset()
    fake_hf.latency = 0.3
    asyncio.run(two_waves())
    # One client per call would open 60. The shared pool reuses the connections it keeps alive
    # (httpx keeps 20 idle ones), so the second wave opens at most 10 more.
    assert fake_hf.connections_opened <= 40, fake_hf.connections_opened


def test_a_changed_token_gets_a_new_client_and_the_old_token_is_never_sent_again(fake_hf, make_hook):
    make_hook("hf_pool", host=fake_hf.url, password=OLD_TOKEN)

    async def main() -> ClientPool:
        assert {p["status"] for p in await fire(5)} == {"success"}
        changed_at = len(fake_hf.chat_requests)
        make_hook("hf_pool", host=fake_hf.url, password=NEW_TOKEN)  # the connection is edited
        assert {p["status"] for p in await fire(5)} == {"success"}
        after = fake_hf.chat_requests[changed_at:]
        assert [r.token for r in after] == [NEW_TOKEN] * 5
        pool = current_pool()
        await asyncio.sleep(0.05)  # the old client's close runs as a task of its own
        assert pool.clients_built == 2
        assert pool.size == 1
        return pool

    asyncio.run(main())
    assert [r.token for r in fake_hf.chat_requests[:5]] == [OLD_TOKEN] * 5


def test_clients_are_closed_when_idle_and_no_socket_stays_open(fake_hf, make_hook, monkeypatch):
    make_hook("hf_pool", host=fake_hf.url, password=OLD_TOKEN)
    monkeypatch.setattr(client_pool, "IDLE_TIMEOUT", 0.2)

    async def main() -> None:
        await fire(10)
        pool = current_pool()
        assert pool.size == 1
        assert fake_hf.open_connections > 0  # kept alive for the next trigger
        await asyncio.sleep(0.6)
        assert pool.size == 0
        # The loop is still running: the idle close happened on its own.
        assert await asyncio.to_thread(wait_until, lambda: fake_hf.open_connections == 0)

    asyncio.run(main())


def test_clients_are_closed_when_the_loop_ends(fake_hf, make_hook):
    make_hook("hf_pool", host=fake_hf.url, password=OLD_TOKEN)

    async def main() -> ClientPool:
        await fire(10)
        return current_pool()

    pool = asyncio.run(main())
    assert pool.size == 0
    assert wait_until(lambda: fake_hf.open_connections == 0), fake_hf.open_connections


def test_each_event_loop_has_its_own_pool(fake_hf, make_hook):
    make_hook("hf_pool", host=fake_hf.url, password=OLD_TOKEN)

    async def main() -> ClientPool:
        await fire(2)
        return current_pool()

    first, second = asyncio.run(main()), asyncio.run(main())
    assert first is not second
    assert first.clients_built == second.clients_built == 1


def test_concurrent_triggers_read_the_connection_once(fake_hf, make_hook, monkeypatch):
    hook = make_hook("hf_pool", host=fake_hf.url, password=OLD_TOKEN)
    reads = []
    original = type(hook).get_connection.__func__

    def counting(cls, conn_id):  # runs in a worker thread (airflow_compat.run_blocking)
        reads.append(conn_id)
        time.sleep(0.05)
        return original(cls, conn_id)

    monkeypatch.setattr(type(hook), "get_connection", classmethod(counting))
    asyncio.run(fire(20))
    assert reads == ["hf_pool"]


def test_the_pool_key_holds_no_token():
    key = pool_key({"token": OLD_TOKEN, "base_url": "http://h", "timeout": 5})
    assert OLD_TOKEN not in repr(key)
    assert key != pool_key({"token": NEW_TOKEN, "base_url": "http://h", "timeout": 5})
    assert key == pool_key({"timeout": 5, "base_url": "http://h", "token": OLD_TOKEN})
    assert OLD_TOKEN not in repr(ClientPool())


def test_a_shared_client_holds_at_most_its_limit_of_requests_on_the_wire(fake_hf, make_hook, monkeypatch):
    make_hook("hf_pool", host=fake_hf.url, password=OLD_TOKEN)
    monkeypatch.setattr(client_pool, "MAX_IN_FLIGHT", 5)
    fake_hf.latency = 0.1
    payloads = asyncio.run(fire(20))
    assert [p["status"] for p in payloads] == ["success"] * 20
    assert fake_hf.max_in_flight == 5
    assert fake_hf.connections_opened == 5
