"""The HTTP libraries' line per request is dropped for our calls only, over real HTTP to the local fake."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from airflow_provider_huggingface._internal import http_logs
from airflow_provider_huggingface._internal.http_logs import LOGGERS, install, quiet_http_logs


@pytest.fixture
def http_records(caplog):
    """The HTTP libraries' "HTTP Request" records, as a function returning the URLs they name."""
    caplog.set_level(logging.INFO)
    for name in ("httpx", "httpx2"):
        caplog.set_level(logging.INFO, logger=name)

    def urls() -> list[str]:
        records = [r for r in caplog.records if r.name in ("httpx", "httpx2")]
        return [str(r.args[1]) for r in records if "HTTP Request" in r.msg]

    return urls


def sync_get(url: str) -> None:
    from huggingface_hub.utils import get_session  # httpx on huggingface_hub 1.x, httpx2 on 2.x

    get_session().get(url)


async def async_get(url: str) -> None:
    from huggingface_hub.utils import get_async_session

    async with get_async_session() as session:
        await session.get(url)


def test_our_thread_is_quiet_while_another_thread_at_the_same_time_is_not(fake_hf, http_records):
    fake_hf.latency = 0.2  # both requests are on the wire together
    together = threading.Barrier(2)

    def send(who: str) -> None:
        together.wait()
        if who == "ours":
            with quiet_http_logs():
                sync_get(f"{fake_hf.url}/health?who=ours")
        else:
            sync_get(f"{fake_hf.url}/health?who=theirs")

    threads = [threading.Thread(target=send, args=(who,)) for who in ("ours", "theirs")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake_hf.requests) == 2
    assert http_records() == [f"{fake_hf.url}/health?who=theirs"]


def test_our_task_is_quiet_while_another_task_on_the_loop_is_not(fake_hf, http_records):
    fake_hf.latency = 0.2

    async def ours() -> None:
        with quiet_http_logs():
            await async_get(f"{fake_hf.url}/health?who=ours")
            # Tasks started inside and threads of asyncio.to_thread inherit the flag.
            await asyncio.create_task(async_get(f"{fake_hf.url}/health?who=child"))
            await asyncio.to_thread(sync_get, f"{fake_hf.url}/health?who=thread")
        await async_get(f"{fake_hf.url}/health?who=after")

    async def main() -> None:
        await asyncio.gather(ours(), async_get(f"{fake_hf.url}/health?who=theirs"))

    asyncio.run(main())
    assert len(fake_hf.requests) == 5
    assert sorted(http_records()) == [f"{fake_hf.url}/health?who=after", f"{fake_hf.url}/health?who=theirs"]


def test_warnings_and_errors_are_never_dropped(caplog):
    caplog.set_level(logging.DEBUG)
    with quiet_http_logs():
        for name in LOGGERS:
            logger = logging.getLogger(name)
            logger.info("dropped")
            logger.debug("dropped")
            logger.warning("kept")
            logger.error("kept")
    assert [r.getMessage() for r in caplog.records if r.name in LOGGERS] == ["kept", "kept"] * len(LOGGERS)


def test_no_level_is_changed_and_the_filter_is_installed_once(monkeypatch):
    monkeypatch.setattr(http_logs, "_installed", False)
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    install()
    install()
    with quiet_http_logs(), quiet_http_logs():
        assert {name: logging.getLogger(name).level for name in LOGGERS} == levels
    for name in LOGGERS:
        assert logging.getLogger(name).filters.count(http_logs._FILTER) == 1
    assert not http_logs._ours.get()  # nested blocks restore the outer state
