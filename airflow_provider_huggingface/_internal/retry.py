"""The provider's one retry policy: which failures are retried, how long to wait, how often.

The Hugging Face client never retries. We retry transient failures (429, 5xx, timeouts,
refused or reset connections) with exponential backoff and jitter, and honour the server's
own ``Retry-After`` or a loading model's ``estimated_time``, capped so that a task never
sleeps for an unbounded time. Permanent failures are raised at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from airflow_provider_huggingface.exceptions import HuggingFaceError

T = TypeVar("T")


class TaskLog(Protocol):
    """What the provider writes to: a ``logging.Logger``, or the structlog logger of Airflow's task SDK."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...

    def warning(self, msg: Any, /, *args: Any) -> Any: ...


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry a transient failure and how long to wait between attempts.

    :param max_retries: retries after the first attempt; a call makes at most ``1 + max_retries`` requests.
    :param base_delay: the first backoff in seconds; it doubles on each retry.
    :param max_delay: the cap of our own backoff.
    :param max_server_wait: the cap of a wait the server asks for (Retry-After, estimated_time).
    """

    max_retries: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_server_wait: float = 120.0

    def delay(self, retry: int, error: HuggingFaceError) -> float:
        """Seconds to wait before retry number ``retry`` (1-based) after ``error``."""
        if error.retry_after is not None:
            # The server knows best; a little jitter keeps many workers from returning in step.
            wait = min(error.retry_after, self.max_server_wait)
            return wait + random.uniform(0, min(1.0, 0.1 * wait + 0.05))
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def should_retry(self, retry: int, error: HuggingFaceError) -> bool:
        return error.retryable and retry <= self.max_retries


def _log_retry(log: TaskLog | None, retry: int, policy: RetryPolicy, error: HuggingFaceError, wait: float):
    if log is not None:
        cause = f"HTTP {error.status_code}" if error.status_code else type(error).__name__
        log.warning(
            "Retry %d/%d in %.1f s after %s: %s",
            retry,
            policy.max_retries,
            wait,
            cause,
            error.server_message or "",
        )


def call_with_retries(
    call: Callable[[], T],
    *,
    policy: RetryPolicy,
    map_error: Callable[[BaseException], HuggingFaceError],
    log: TaskLog | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call`` under ``policy``; raise the mapped error when it fails for good."""
    retry = 0
    while True:
        try:
            return call()
        except Exception as exc:
            error = map_error(exc)
        # Raised outside the except block: the client's exception (its request carries the token)
        # must not ride along as __context__.
        retry += 1
        if not policy.should_retry(retry, error):
            raise error
        wait = policy.delay(retry, error)
        _log_retry(log, retry, policy, error, wait)
        sleep(wait)


async def async_call_with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    map_error: Callable[[BaseException], HuggingFaceError],
    log: TaskLog | None = None,
    on_retry: Callable[[HuggingFaceError], None] | None = None,
) -> T:
    """The asynchronous twin of :func:`call_with_retries`, for triggers and batches."""
    retry = 0
    while True:
        try:
            return await call()
        except Exception as exc:
            error = map_error(exc)
        retry += 1  # outside the except block, as in call_with_retries
        if not policy.should_retry(retry, error):
            raise error
        if on_retry is not None:
            on_retry(error)
        wait = policy.delay(retry, error)
        _log_retry(log, retry, policy, error, wait)
        await asyncio.sleep(wait)
