"""An adaptive concurrency limit (AIMD) for batches of calls to a rate-limited server.

The limit starts at its maximum. A call answered 429 or 503 halves it: multiplicative
decrease, at most once per generation, i.e. only for a call sent after the last decrease, so
that a burst of 429s from calls that were all in flight together counts once. Each success of a
call sent under the current limit adds ``1/limit``: additive increase, about one slot per round
trip of the calls in flight, up to the maximum. A "call" is whatever holds a slot: as the batch
operator uses it, each attempt of a call, so that a call waiting to retry holds no slot.

A rate limit makes probing expensive: a server that admits 10 calls a second at 0.1 s each
allows one call in flight, and each probe at two costs a 429 and a Retry-After wait. So:

* a 429 or 503 carrying a Retry-After (or a loading model's estimated time) closes the gate to
  new calls for that long, as the server asked;
* a Retry-After also names the window of the server's rate limit: the calls that succeeded within
  it, times their mean duration, are the concurrency the server sustained (Little's law). When
  twice that is below half the limit, the limit falls to it at once, rather than by one halving
  per Retry-After; with no success in the window there is no such evidence, and a burst of 429s
  only halves the limit;
* after a decrease, a new whole slot opens at most once per *step* (``hold`` seconds at first);
  the step doubles, up to ``max_hold``, each time the limit fails again at or below the level
  that failed last, and halves each time a level holds until the next slot opens.

Pure asyncio: waiting callers are futures woken in order; no threads, no locks.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType


THROTTLE_STATUSES = frozenset({429, 503})


def is_throttle(error: BaseException) -> bool:
    """Whether the server said it is overloaded: the signal to send fewer calls at once."""
    return getattr(error, "status_code", None) in THROTTLE_STATUSES


class AdaptiveLimiter:
    """How many calls may be in flight at once, learnt from the server's answers.

    ``async with limiter.slot() as slot:`` waits for a free slot; inside, tell the outcome with
    ``slot.succeeded()`` or ``slot.failed(error)``. A new slot is granted only while fewer than
    :attr:`slots` calls hold one (after a decrease the calls already in flight finish first) and the
    server's Retry-After has passed.

    :param max_limit: the most calls in flight, and the starting limit.
    :param min_limit: the fewest slots the limit falls to.
    :param hold: seconds between two slots opening after a decrease, at first.
    :param max_hold: the cap of that step as repeated failures at the same level double it.
    :param max_wait: the cap of a server's Retry-After, in seconds, for closing the gate.
    :param clock: a monotonic clock, for tests.
    """

    def __init__(
        self,
        max_limit: int,
        *,
        min_limit: int = 1,
        hold: float = 1.0,
        max_hold: float = 30.0,
        max_wait: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(max_limit, bool) or not isinstance(max_limit, int) or max_limit < 1:
            raise ValueError(f"max_limit must be a positive integer, not {max_limit!r}")
        if not 1 <= min_limit <= max_limit:
            raise ValueError(f"min_limit must be from 1 to max_limit ({max_limit}), not {min_limit!r}")
        self.max_limit = max_limit
        self.min_limit = min_limit
        self.limit = float(max_limit)
        self.in_flight = 0
        self.generation = 0
        self.decreases = 0
        self._base_step = self._step = hold
        self._max_step = max_hold
        self._max_wait = max_wait
        self._clock = clock
        self._failed_level: int | None = None  # slots in use when the last decrease came
        self._next_slot_at = -math.inf  # when the limit may next open a whole slot
        self._opened = 0  # slots opened since the last decrease
        self._gate_until = -math.inf  # no new call before this: the server's Retry-After
        self._timer: asyncio.TimerHandle | None = None
        # Seconds spent by the calls that succeeded, summed per tenth of a second of their end.
        self._busy: deque[list[float]] = deque()
        self._waiters: deque[asyncio.Future[int]] = deque()

    @property
    def slots(self) -> int:
        """Calls that may be in flight now: the whole part of the limit."""
        return max(self.min_limit, min(self.max_limit, int(self.limit)))

    @property
    def waiting_for_server(self) -> float:
        """Seconds until the server's Retry-After has passed; 0 when new calls may go."""
        return max(0.0, self._gate_until - self._clock())

    def slot(self) -> Slot:
        """A slot to hold while a call or one attempt of it runs: ``async with limiter.slot() as s``."""
        return Slot(self)

    def __repr__(self) -> str:
        return f"AdaptiveLimiter(limit={self.limit:.2f}, slots={self.slots}, in_flight={self.in_flight})"

    # ---- acquiring and releasing

    def _may_grant(self) -> bool:
        return self.in_flight < self.slots and self._clock() >= self._gate_until

    async def _acquire(self) -> int:
        """Wait for a slot; return the generation it was granted in."""
        if not self._waiters and self._may_grant():
            self.in_flight += 1
            return self.generation
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._wake()  # the gate may be closed: make sure a timer will reopen it
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # granted, then cancelled before it could run: pass the slot on
            else:
                self._waiters.remove(waiter)
            raise

    def _release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._may_grant():
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1  # counted now, so that no later caller overtakes it
                # The generation now: a decrease before the waiter runs must not make it look newer.
                waiter.set_result(self.generation)
        if self._waiters and self._timer is None and (wait := self.waiting_for_server) > 0:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # told of an answer outside a loop (tests): the next wake will do
                return
            self._timer = loop.call_later(wait, self._gate_opened)

    def _gate_opened(self) -> None:
        self._timer = None
        self._wake()

    # ---- learning

    def _throttled(self, slot: Slot, error: BaseException) -> None:
        now = self._clock()
        retry_after = getattr(error, "retry_after", None)
        if retry_after:
            self._gate_until = max(self._gate_until, now + min(retry_after, self._max_wait))
        if slot.generation == self.generation:
            level = self.slots
            # Failing again where it failed before: wait longer before the next probe there.
            again = self._failed_level is not None and level <= self._failed_level
            self._step = min(self._step * 2, self._max_step) if again else self._base_step
            self._failed_level = level
            limit = self.limit / 2
            if retry_after:
                limit = min(limit, 2 * self._sustained(now, min(retry_after, self._max_wait)) or limit)
            self.limit = max(float(self.min_limit), limit)
            self._next_slot_at = now + self._step
            self._opened = 0
            self.generation += 1
            self.decreases += 1
        # Its next attempt is sent after this decrease, so it may signal the next one.
        slot.generation = self.generation

    def _sustained(self, now: float, window: float) -> float:
        """Calls in flight on average over the last ``window`` seconds, from the successes in it."""
        return sum(seconds for end, seconds in self._busy if end >= now - window) / window

    def _succeeded(self, slot: Slot) -> None:
        now = self._clock()
        bucket = math.floor(now * 10) / 10
        if self._busy and self._busy[-1][0] == bucket:
            self._busy[-1][1] += now - slot.started
        else:
            self._busy.append([bucket, now - slot.started])
            while self._busy[0][0] < now - self._max_wait:  # at most max_wait * 10 buckets
                self._busy.popleft()
        if slot.generation != self.generation:
            return  # sent under an older, larger limit: says nothing about the current one
        limit = min(float(self.max_limit), self.limit + 1 / self.limit)
        if int(limit) > int(self.limit):  # a new whole slot
            if now < self._next_slot_at:
                limit = math.nextafter(float(int(limit)), 0.0)  # up to just below it, for now
            else:
                if self._opened:  # the last level held for a whole step: speed up again
                    self._step = max(self._base_step, self._step / 2)
                self._opened += 1
                self._next_slot_at = now + self._step
        self.limit = limit
        self._wake()


class Slot:
    """One call's hold on an :class:`AdaptiveLimiter`; see :meth:`AdaptiveLimiter.slot`."""

    __slots__ = ("generation", "limiter", "started")

    def __init__(self, limiter: AdaptiveLimiter) -> None:
        self.limiter = limiter
        self.generation = limiter.generation
        self.started = 0.0

    async def __aenter__(self) -> Slot:
        self.generation = await self.limiter._acquire()
        self.started = self.limiter._clock()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.limiter._release()

    def restart(self) -> None:
        """The call starts only now, after a wait inside the slot: time it from here."""
        self.started = self.limiter._clock()

    def succeeded(self) -> None:
        """The call succeeded: the limit grows by ``1/limit``."""
        self.limiter._succeeded(self)

    def failed(self, error: BaseException) -> None:
        """The call failed (for good, or this attempt); a 429 or 503 lowers the limit."""
        if is_throttle(error):
            self.limiter._throttled(self, error)
