"""One ``AsyncInferenceClient`` per connection's settings per event loop, shared by every call on it.

Each ``AsyncInferenceClient`` opens its own HTTP connection pool, and building one costs about 20 ms
of CPU (an SSL context). Hundreds of triggers that each opened their own would stall the triggerer's
event loop for seconds, and open one TCP connection each. Here the calls of one event loop that use the
same settings (token, URL, provider, timeout, bill_to) share one client:

- a changed connection (a new token or URL) gets a new client; the old one is closed as soon as the
  calls still using it are done, so no request goes out with the old token after the change;
- a client that no call used for :data:`IDLE_TIMEOUT` seconds is closed, and every client is closed
  when its event loop ends (``asyncio.run`` cancels the pool's keeper task, which closes them);
- a client is built in a thread (huggingface_hub's import on first use too), never on the loop.

Non-streamed calls release their response at once; a streamed response would stay in the client's
exit stack until the client closes, so callers that stream keep a client of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_huggingface._internal.hub_compat import attach_async_session, new_async_client

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine

T = TypeVar("T")
log = logging.getLogger(__name__)

# Seconds a client may stay unused before it is closed. Triggers of one DAG run arrive over seconds;
# a minute keeps their connections warm without holding sockets for hours.
IDLE_TIMEOUT = 60.0

_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ClientPool] = weakref.WeakKeyDictionary()


def pool_key(client_kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """The settings that make two clients interchangeable; the token only as a digest, so that a
    key printed by mistake shows no secret."""
    token = client_kwargs.get("token") or ""
    digest = hashlib.sha256(token.encode()).hexdigest()[:16]
    rest = tuple(sorted((k, repr(v)) for k, v in client_kwargs.items() if k != "token"))
    return (digest, *rest)


# Requests of one shared client on the wire at once: httpx's own connection limit. More would wait in
# httpx's queue, where every finished request scans the whole queue; waiting here instead also wakes
# the waiters one by one, so that a thousand triggers do not all prepare their request in one loop turn.
MAX_IN_FLIGHT = 100


@dataclass(eq=False)
class _Entry:
    client: Any
    key: tuple[Any, ...]
    users: int = 0
    last_used: float = 0.0
    retired: bool = False
    gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_IN_FLIGHT))


class ClientPool:
    """The shared clients of one event loop. Get it with :func:`current_pool`.

    :param idle_timeout: seconds a client may stay unused before it is closed.
    """

    def __init__(self, *, idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.idle_timeout = idle_timeout
        self._entries: dict[tuple[Any, ...], _Entry] = {}
        self._building: dict[tuple[Any, ...], asyncio.Task[_Entry]] = {}
        self._current: dict[str, tuple[Any, ...]] = {}  # connection id -> key of its newest settings
        self._keeper: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._reading: dict[str, asyncio.Task[Any]] = {}
        self._by_client: dict[int, _Entry] = {}
        self.clients_built = 0

    def __repr__(self) -> str:
        return f"<ClientPool clients={len(self._entries)} idle_timeout={self.idle_timeout}>"

    @property
    def size(self) -> int:
        """Open clients."""
        return len(self._entries)

    async def read_once(self, name: str, read: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """``await read()``, shared by every caller that asks for ``name`` while a read is under way.

        Hundreds of triggers that start together then read their connection once, not once each;
        a caller that comes after the read finished reads anew, so a changed connection is seen.
        """
        task = self._reading.get(name)
        if task is None:
            task = asyncio.get_running_loop().create_task(read())
            self._reading[name] = task
            task.add_done_callback(lambda _: self._reading.pop(name, None))
        return await asyncio.shield(task)

    def gate(self, client: Any) -> contextlib.AbstractAsyncContextManager[Any]:
        """What a request on ``client`` holds while on the wire: the shared client's limit, if pooled."""
        entry = self._by_client.get(id(client))
        return entry.gate if entry is not None and entry.client is client else contextlib.nullcontext()

    @contextlib.asynccontextmanager
    async def lease(self, conn_id: str, client_kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """The shared client for these settings, held for the duration of the ``async with``."""
        key = pool_key(client_kwargs)
        entry = self._entries.get(key) or await self._wait_for_build(conn_id, key, client_kwargs)
        entry.users += 1
        try:
            yield entry.client
        finally:
            entry.users -= 1
            entry.last_used = asyncio.get_running_loop().time()
            if entry.retired and entry.users == 0:
                self._close_soon(entry)

    async def _wait_for_build(self, conn_id: str, key: tuple[Any, ...], kwargs: dict[str, Any]) -> _Entry:
        task = self._building.get(key)
        if task is None:
            # One build per key, in a task of its own: a caller cancelled while waiting cancels nothing else.
            task = asyncio.get_running_loop().create_task(self._build(conn_id, key, kwargs))
            self._building[key] = task
            task.add_done_callback(lambda _: self._building.pop(key, None))
        return await asyncio.shield(task)

    async def _build(self, conn_id: str, key: tuple[Any, ...], kwargs: dict[str, Any]) -> _Entry:
        client, session = await asyncio.to_thread(new_async_client, kwargs)
        await attach_async_session(client, session)
        entry = _Entry(client=client, key=key, last_used=asyncio.get_running_loop().time())
        self._entries[key] = entry
        self._by_client[id(client)] = entry
        self.clients_built += 1
        previous = self._current.get(conn_id)
        self._current[conn_id] = key
        if previous is not None and previous != key and previous in self._entries:
            old = self._entries[previous]
            log.info("Connection '%s' changed: its calls now use a new client.", conn_id)
            old.retired = True
            if old.users == 0:
                self._close_soon(old)
        self._ensure_keeper()
        return entry

    def _close_soon(self, entry: _Entry) -> None:
        if self._entries.get(entry.key) is entry:
            del self._entries[entry.key]
        self._by_client.pop(id(entry.client), None)
        task = asyncio.get_running_loop().create_task(_close(entry.client))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _ensure_keeper(self) -> None:
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.get_running_loop().create_task(self._keep(), name="hf-client-pool")

    async def _keep(self) -> None:
        """Close idle clients; close them all when the loop ends (this task is then cancelled)."""
        loop = asyncio.get_running_loop()
        try:
            while self._entries or self._building:
                await asyncio.sleep(max(0.05, self.idle_timeout / 4))
                now = loop.time()
                for entry in list(self._entries.values()):
                    if entry.users == 0 and now - entry.last_used >= self.idle_timeout:
                        self._close_soon(entry)
        finally:
            entries, self._entries = list(self._entries.values()), {}
            self._by_client.clear()
            closing = [t for t in self._closing if not t.done()]
            # Closing sockets is quick; run it even when the loop is ending and cancelled us.
            await asyncio.gather(*(_close(e.client) for e in entries), *closing, return_exceptions=True)

    async def aclose(self) -> None:
        """Close every client now (tests, and a loop that ends without cancelling its tasks)."""
        if self._keeper is not None and not self._keeper.done():
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        entries, self._entries = list(self._entries.values()), {}
        self._by_client.clear()
        await asyncio.gather(*(_close(e.client) for e in entries), *self._closing, return_exceptions=True)


async def _close(client: Any) -> None:
    try:
        await client.close()
    except Exception as exc:  # a socket that is already gone: nothing more to release
        log.debug("Closing a Hugging Face client failed: %s", type(exc).__name__)


def current_pool() -> ClientPool:
    """The pool of the running event loop (created on first use)."""
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = _pools[loop] = ClientPool(idle_timeout=IDLE_TIMEOUT)
    return pool
