"""A token bucket that paces the start of calls to a steady rate, for shards sharing one rate limit.

The adaptive limiter (:mod:`airflow_provider_huggingface.batch.limiter`) learns from 429s, so each
batch pays for its own lesson, and batches that share an account's limit each start at full
concurrency. A fixed rate per batch (the account's limit divided by the batches that run at once)
meets the limit without a single 429 to learn from.

The bucket holds ``burst`` tokens and refills ``rate`` a second; each start takes one. Starts are
booked in the order they ask (a GCRA, or virtual scheduling): each caller is given its start time
at once and sleeps until then, so callers never overtake one another and no lock is needed.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


class TokenBucket:
    """At most ``burst`` starts at once, then one every ``1/rate`` seconds.

    :param rate: starts a second, above 0.
    :param burst: starts that may go at once after a quiet spell; 1 spaces every start evenly,
        so that no window of a server's rate limit sees more than its share.
    :param clock: a monotonic clock, for tests.
    :param sleep: an asyncio sleep, for tests.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < math.inf:
            raise ValueError(f"rate must be a positive number, not {rate!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"burst must be a positive integer, not {burst!r}")
        self.rate = float(rate)
        self.burst = burst
        self._interval = 1.0 / self.rate
        self._clock = clock
        self._sleep = sleep
        self._next = -math.inf  # the next start's time were starts spaced evenly (burst 1)

    def reserve(self) -> float:
        """Book the next start; return the seconds to wait before it (0 when a token is there)."""
        now = self._clock()
        start = max(now, self._next - (self.burst - 1) * self._interval)
        self._next = max(self._next, now) + self._interval
        return start - now

    async def wait(self) -> None:
        """Wait for this caller's turn to start a call."""
        delay = self.reserve()
        if delay > 0:
            await self._sleep(delay)

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate:g}/s, burst={self.burst})"
