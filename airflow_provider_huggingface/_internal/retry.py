"""The provider's one retry policy: which failures are retried, how long to wait, how often.

The Hugging Face client never retries. We retry transient failures (429, 5xx, timeouts,
refused or reset connections) with exponential backoff and jitter, and honour the server's
own ``Retry-After`` or a loading model's ``estimated_time``, capped so that a task never
sleeps for an unbounded time. Permanent failures are raised at once.

:func:`retrying` is the one retry loop, written as steps (see :mod:`._internal.steps`), so that
the worker, the triggerer and a batch run the same loop.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_huggingface._internal.steps import Wait

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from airflow_provider_huggingface.exceptions import HuggingFaceError


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


def retrying(
    request: Any,
    *,
    policy: RetryPolicy,
    map_error: Callable[[BaseException], HuggingFaceError],
    log: TaskLog | None = None,
    on_failure: Callable[[HuggingFaceError, bool], None] | None = None,
    admit: Callable[[], None] | None = None,
) -> Generator[Any, Any, Any]:
    """Steps that send ``request`` until it succeeds or fails for good; their value is the outcome.

    :param request: the request step to yield (the driver sends it).
    :param policy: how often and after how long to try again.
    :param map_error: turns the client's exception into a :class:`HuggingFaceError`.
    :param log: where each retry is announced (its number, its cause, the wait).
    :param on_failure: told of each failed attempt, and whether it will be retried (a batch adapts
        its concurrency; a budget gives back an attempt the server did not bill).
    :param admit: called before each attempt; what it raises (a spent budget) ends the steps: before
        the first attempt as it is (nothing was sent), before a retry as the last failure, saying so.
    """
    retry = 0
    error: HuggingFaceError | None = None
    while True:
        if admit is not None:
            refused: Exception | None = None
            try:
                admit()
            except Exception as exc:
                refused = exc
            if refused is not None:
                # A first attempt refused was never sent; a retry refused leaves the last failure.
                raise refused if error is None else error.with_detail(f"Not retried: {refused}")
        try:
            return (yield request)
        except Exception as exc:
            error = map_error(exc)
        retry += 1  # raised outside the except block: the client's exception must not be its context
        again = policy.should_retry(retry, error)
        if on_failure is not None:
            on_failure(error, again)
        if not again:
            raise error
        wait = policy.delay(retry, error)
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
        yield Wait(wait)
