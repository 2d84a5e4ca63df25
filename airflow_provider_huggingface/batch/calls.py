"""How the calls of a batch meet its limits, apart from the run itself (see
:mod:`airflow_provider_huggingface.batch.engine`): each attempt takes a slot of the adaptive limit
and waits for the pacer, an attempt is refused once the batch stopped, the retry lines are capped,
and the run's event loop is started from synchronous code."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_huggingface.exceptions import HuggingFacePermanentError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from huggingface_hub import AsyncInferenceClient

    from airflow_provider_huggingface.batch.limiter import AdaptiveLimiter
    from airflow_provider_huggingface.batch.pacing import TokenBucket
    from airflow_provider_huggingface.exceptions import HuggingFaceError

T = TypeVar("T")


def run_to_end(coroutine: Any) -> Any:
    """Run a coroutine to its end from synchronous code, even under an already running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        running = False
    else:
        running = True
    if not running:
        # Outside the except block: what the batch raises must not be chained to "no running event loop".
        return asyncio.run(coroutine)
    from concurrent.futures import ThreadPoolExecutor

    # A worker that itself runs an event loop (some executors do): asyncio.run needs its own thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class LimitedClient:
    """The shared client as the batch's calls see it: each attempt, retries included, takes a slot.

    A slot per attempt rather than per call keeps a call that sleeps before its retry from holding
    a slot, and sends the retry through the limit and the server's Retry-After like any new call,
    rather than in a wave with the calls it failed with. The limiter hears of a failed attempt
    before its slot is passed on. Any awaited call of the client goes through :meth:`call`; a chat's
    ``chat_completion`` is one.

    :param client: the client that sends.
    :param limiter: the batch's adaptive concurrency limit.
    :param pacer: the batch's pacing of attempt starts, if any.
    :param map_error: reads a failed attempt's status and Retry-After for the limiter.
    :param stopped: why the batch stopped, or None while it runs.
    """

    def __init__(
        self,
        client: AsyncInferenceClient,
        *,
        limiter: AdaptiveLimiter,
        pacer: TokenBucket | None,
        map_error: Callable[[BaseException], HuggingFaceError],
        stopped: Callable[[], str | None],
    ) -> None:
        self._client = client
        self._limiter = limiter
        self._pacer = pacer
        self._map_error = map_error
        self._stopped = stopped

    async def call(self, send: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """One attempt, ``await send(client, *args, **kwargs)``, under the batch's limits."""
        async with self._limiter.slot() as slot:
            if self._pacer is not None:
                # In the slot, so that a wave of waiters let through at once still starts one by one.
                await self._pacer.wait()
                slot.restart()
            if self._stopped() is not None:  # decided while this attempt waited for its slot
                raise BatchStopped("The batch stopped.")
            try:
                output = await send(self._client, *args, **kwargs)
            except Exception as exc:
                slot.failed(self._map_error(exc))  # its status and Retry-After; the steps map it too
                raise
            slot.succeeded()
            return output

    async def chat_completion(self, *args: Any, **kwargs: Any) -> Any:
        return await self.call(_chat_completion, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


async def _chat_completion(client: AsyncInferenceClient, *args: Any, **kwargs: Any) -> Any:
    return await client.chat_completion(*args, **kwargs)


class BatchStopped(HuggingFacePermanentError):
    """Raised instead of sending an attempt once the batch has stopped; never retried."""


class FirstWarnings:
    """A logger that lets through only its first ``keep`` warnings (a batch's retry or re-ask lines).

    :param log: the task's log.
    :param keep: how many warnings pass.
    :param then: the line that says the rest are not logged one by one.
    """

    def __init__(self, log: Any, keep: int, then: str) -> None:
        self._inner = log
        self._keep = keep
        self._then = then
        self._seen = 0

    def warning(self, *args: Any, **kwargs: Any) -> None:
        self._seen += 1
        if self._seen <= self._keep:
            self._inner.warning(*args, **kwargs)
        if self._seen == self._keep:
            self._inner.warning("%s", self._then)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
