"""The adaptive concurrency limit (AIMD), driven by fake answers and a fake clock."""

from __future__ import annotations

import asyncio
import random
from types import SimpleNamespace

import pytest

from airflow_provider_huggingface.batch.limiter import AdaptiveLimiter, is_throttle


def answer(status: int | None, retry_after: float | None = None) -> SimpleNamespace:
    """What an attempt failed with: a mapped error with a status code."""
    return SimpleNamespace(status_code=status, retry_after=retry_after)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(coroutine):
    return asyncio.run(coroutine)


async def hold(limiter: AdaptiveLimiter, n: int) -> list:
    """n slots acquired and kept open; exit them with ``release``."""
    slots = [limiter.slot() for _ in range(n)]
    for slot in slots:
        await slot.__aenter__()
    return slots


async def release(slots: list) -> None:
    for slot in slots:
        await slot.__aexit__(None, None, None)


def test_starts_at_the_maximum_and_makes_the_next_caller_wait():
    async def scenario():
        limiter = AdaptiveLimiter(3)
        slots = await hold(limiter, 3)
        waiter = asyncio.ensure_future(limiter.slot().__aenter__())
        await asyncio.sleep(0)
        assert not waiter.done()
        assert limiter.in_flight == 3
        await release(slots[:1])
        await asyncio.sleep(0)
        assert waiter.done()
        assert limiter.in_flight == 3
        await release(slots[1:])
        assert limiter.in_flight == 1

    run(scenario())


def test_a_429_halves_the_limit_once_per_generation():
    async def scenario():
        limiter = AdaptiveLimiter(16, clock=Clock())
        slots = await hold(limiter, 8)
        for slot in slots:  # a burst: all of them were in flight together
            slot.failed(answer(429))
        assert (limiter.limit, limiter.slots, limiter.decreases) == (8, 8, 1)
        # Their next attempts are sent under the new limit: the next burst halves it again.
        slots[0].failed(answer(503))
        slots[1].failed(answer(429))
        assert (limiter.slots, limiter.decreases) == (4, 2)
        for _ in range(5):
            for slot in slots:
                slot.failed(answer(429))
        assert limiter.slots == 1
        assert limiter.limit == 1
        await release(slots)

    run(scenario())


def test_only_429_and_503_lower_the_limit():
    async def scenario():
        limiter = AdaptiveLimiter(8)
        (slot,) = await hold(limiter, 1)
        for status in (500, 502, 401, 400, None):
            slot.failed(answer(status))
            slot.failed(answer(status))
        assert limiter.limit == 8
        assert limiter.decreases == 0
        slot.failed(answer(429))  # a final 429 counts as well
        assert limiter.limit == 4
        await release([slot])

    run(scenario())
    assert is_throttle(answer(503))
    assert not is_throttle(ValueError("no status"))


def test_successes_add_one_over_the_limit_up_to_the_maximum():
    async def scenario():
        clock = Clock()
        limiter = AdaptiveLimiter(8, clock=clock)
        (slot,) = await hold(limiter, 1)
        slot.failed(answer(429))
        slot.failed(answer(429))
        assert limiter.limit == 2
        clock.now += 60  # past any step
        slot.succeeded()
        assert limiter.limit == pytest.approx(2.5)
        slot.succeeded()
        assert limiter.limit == pytest.approx(2.9)
        assert limiter.slots == 2
        for _ in range(200):
            clock.now += 60
            slot.succeeded()
        assert limiter.limit == 8
        assert limiter.slots == 8
        await release([slot])

    run(scenario())


def test_a_success_of_a_call_sent_before_a_decrease_does_not_raise_the_limit():
    async def scenario():
        limiter = AdaptiveLimiter(8, clock=Clock())
        old, throttled = await hold(limiter, 2)
        throttled.failed(answer(429))
        old.succeeded()  # sent when 8 were allowed: no news about 4
        assert limiter.limit == 4
        throttled.succeeded()  # its retry went out under the new limit
        assert limiter.limit == pytest.approx(4.25)
        await release([old, throttled])

    run(scenario())


def test_after_a_decrease_one_slot_opens_per_step():
    async def scenario():
        clock = Clock()
        limiter = AdaptiveLimiter(8, hold=1.0, clock=clock)
        (slot,) = await hold(limiter, 1)
        slot.failed(answer(429))
        assert limiter.slots == 4
        for _ in range(20):
            slot.succeeded()
        assert limiter.slots == 4  # up to just below 5, however many successes
        clock.now += 1.0
        for _ in range(20):
            slot.succeeded()
        assert limiter.slots == 5
        clock.now += 1.0
        for _ in range(20):
            slot.succeeded()
        assert limiter.slots == 6
        await release([slot])

    run(scenario())


def test_failing_again_at_the_same_level_doubles_the_step_and_a_level_that_holds_halves_it():
    async def scenario():
        clock = Clock()
        limiter = AdaptiveLimiter(4, hold=1.0, max_hold=4.0, clock=clock)
        (slot,) = await hold(limiter, 1)

        def grow(seconds: float) -> int:
            clock.now += seconds
            for _ in range(10):
                slot.succeeded()
            return limiter.slots

        slot.failed(answer(429))  # failed at 4: 2 slots, step 1
        assert grow(0.9) == 2
        assert grow(0.1) == 3
        slot.failed(answer(429))  # failed again below 4: step 2
        assert limiter.slots == 1
        assert grow(1.9) == 1
        assert grow(0.1) == 2
        slot.failed(answer(429))  # and again: step 4, the cap
        assert grow(3.9) == 1
        assert grow(0.1) == 2
        slot.failed(answer(429))
        assert grow(3.9) == 1
        assert grow(0.1) == 2
        # Level 2 holds for a whole step: the next slots open faster (step 2, then 1).
        assert grow(3.9) == 2
        assert grow(0.1) == 3
        assert grow(1.9) == 3
        assert grow(0.1) == 4
        # A failure above the level that failed last: the server's capacity changed; back to 1 s.
        slot.failed(answer(429))
        assert limiter.slots == 2
        assert grow(1.0) == 3
        await release([slot])

    run(scenario())


def test_a_retry_after_closes_the_gate_to_new_calls_for_that_long():
    async def scenario():
        limiter = AdaptiveLimiter(4)
        throttled, old = await hold(limiter, 2)
        throttled.failed(answer(429, retry_after=0.05))
        await release([throttled])
        assert limiter.slots == 2
        assert limiter.in_flight == 1
        waiter = asyncio.ensure_future(limiter.slot().__aenter__())
        await asyncio.sleep(0)
        assert not waiter.done()  # a free slot, but the server asked to wait
        await asyncio.wait_for(waiter, timeout=5)  # a timer reopens the gate
        assert limiter.in_flight == 2
        assert limiter.waiting_for_server == 0
        # A 429 of a call sent before the decrease changes no limit; its Retry-After still counts.
        old.failed(answer(429, retry_after=30))
        assert limiter.slots == 2
        assert limiter.waiting_for_server > 29
        await release([old])
        waiter = asyncio.ensure_future(limiter.slot().__aenter__())
        await asyncio.sleep(0)
        assert not waiter.done()
        assert limiter.in_flight == 1
        waiter.cancel()

    run(scenario())


def test_a_lowered_limit_lets_no_new_call_in_until_the_calls_in_flight_drop_below_it():
    async def scenario():
        limiter = AdaptiveLimiter(4, clock=Clock())
        slots = await hold(limiter, 4)
        slots[0].failed(answer(429))
        assert limiter.slots == 2
        waiter = asyncio.ensure_future(limiter.slot().__aenter__())
        await release(slots[:2])
        await asyncio.sleep(0)
        assert not waiter.done()  # 2 in flight, 2 allowed
        await release(slots[2:3])
        await asyncio.sleep(0)
        assert waiter.done()
        assert limiter.in_flight == 2
        await release([slots[3], await waiter])
        assert limiter.in_flight == 0

    run(scenario())


def test_a_cancelled_waiter_leaks_no_slot():
    async def scenario():
        limiter = AdaptiveLimiter(1)
        (slot,) = await hold(limiter, 1)
        waiter = asyncio.ensure_future(limiter.slot().__aenter__())
        await asyncio.sleep(0)
        waiter.cancel()
        await release([slot])
        await asyncio.sleep(0)
        assert limiter.in_flight == 0
        async with limiter.slot():
            assert limiter.in_flight == 1

    run(scenario())


def test_a_waiter_cancelled_after_being_granted_passes_its_slot_on():
    async def scenario():
        limiter = AdaptiveLimiter(1)
        (slot,) = await hold(limiter, 1)
        first = asyncio.ensure_future(limiter.slot().__aenter__())
        second = asyncio.ensure_future(limiter.slot().__aenter__())
        await asyncio.sleep(0)
        await release([slot])  # grants `first`...
        first.cancel()  # ...which is cancelled before it runs
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert first.cancelled()
        assert second.done()
        assert limiter.in_flight == 1

    run(scenario())


def test_in_flight_never_exceeds_the_limit_nor_the_maximum_under_random_answers():
    seen: list[tuple[int, int]] = []  # (in flight, slots) just after each grant

    class Recording(AdaptiveLimiter):
        async def _acquire(self) -> None:
            at_once = not self._waiters and self.in_flight < self.slots
            await super()._acquire()
            if at_once:
                seen.append((self.in_flight, self.slots))

        def _wake(self) -> None:
            before = self.in_flight
            super()._wake()
            seen.extend([(self.in_flight, self.slots)] * (self.in_flight - before))

    async def scenario():
        rng = random.Random(7)
        limiter = Recording(6, hold=0.0)

        async def call() -> None:
            async with limiter.slot() as slot:
                for _ in range(rng.randrange(3)):
                    await asyncio.sleep(0)
                    slot.failed(answer(rng.choice([429, 503, 500])))
                await asyncio.sleep(0)
                if rng.random() < 0.1:
                    slot.failed(answer(429))
                else:
                    slot.succeeded()

        await asyncio.gather(*(call() for _ in range(500)))
        assert limiter.in_flight == 0
        assert limiter.decreases > 0
        assert len(seen) == 500
        assert max(n for n, _ in seen) <= 6
        # Each call was let in while fewer than the current limit were in flight.
        assert all(n <= slots for n, slots in seen)

    run(scenario())
    assert min(slots for _, slots in seen) < 6  # the limit did move


@pytest.mark.parametrize("kwargs", [{"max_limit": 0}, {"max_limit": 2.0}, {"max_limit": 4, "min_limit": 5}])
def test_bad_limits_are_refused(kwargs):
    with pytest.raises(ValueError, match="limit"):
        AdaptiveLimiter(**kwargs)


def test_a_retry_after_with_successes_in_its_window_cuts_to_the_concurrency_they_sustained():
    async def scenario():
        clock = Clock()
        limiter = AdaptiveLimiter(32, clock=clock)
        for _ in range(10):  # one call at a time, 0.1 s each: one call in flight on average
            async with limiter.slot() as slot:
                clock.now += 0.1
                slot.succeeded()
        (slot,) = await hold(limiter, 1)
        slot.failed(answer(429, retry_after=1.0))
        assert limiter.limit == pytest.approx(2.0)  # twice the sustained 1, not 32 / 2
        await release([slot])

    run(scenario())


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [(None, 0.0), (1.0, 5.0)],  # no window named; or no success within it
)
def test_without_evidence_of_a_rate_a_throttle_only_halves(retry_after, wait):
    async def scenario():
        clock = Clock()
        limiter = AdaptiveLimiter(32, clock=clock)
        for _ in range(10):
            async with limiter.slot() as slot:
                clock.now += 0.1
                slot.succeeded()
        clock.now += wait
        (slot,) = await hold(limiter, 1)
        slot.failed(answer(429, retry_after=retry_after))
        assert limiter.limit == 16
        await release([slot])

    run(scenario())
