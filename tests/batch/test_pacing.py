"""The token bucket that paces the start of calls, driven by a fake clock and a fake sleep."""

from __future__ import annotations

import asyncio
import math

import pytest

from airflow_provider_huggingface.batch.pacing import TokenBucket


class Clock:
    """A clock that moves only when told to; its sleep records the wait and yields once."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await asyncio.sleep(0)


def bucket(rate: float, clock: Clock, **kwargs) -> TokenBucket:
    return TokenBucket(rate, clock=clock, sleep=clock.sleep, **kwargs)


def test_the_first_start_goes_at_once_and_the_next_ones_one_interval_apart():
    clock = Clock()
    pacer = bucket(4, clock)
    assert [pacer.reserve() for _ in range(4)] == [0.0, 0.25, 0.5, 0.75]


def test_time_passing_pays_the_debt_back():
    clock = Clock()
    pacer = bucket(2, clock)
    assert pacer.reserve() == 0.0
    clock.now += 0.2
    assert pacer.reserve() == pytest.approx(0.3)
    clock.now += 5.0  # a quiet spell: the next start is free, not several at once
    assert pacer.reserve() == 0.0
    assert pacer.reserve() == pytest.approx(0.5)


def test_a_burst_lets_that_many_start_at_once_after_a_quiet_spell():
    clock = Clock()
    pacer = bucket(10, clock, burst=3)
    assert [pacer.reserve() for _ in range(5)] == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2])
    clock.now += 10.0
    assert [pacer.reserve() for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 0.1])


def test_waiters_asking_together_are_booked_one_interval_apart_in_order():
    clock = Clock()
    pacer = bucket(2.5, clock)

    async def scenario() -> None:
        await asyncio.gather(*(pacer.wait() for _ in range(5)))

    asyncio.run(scenario())
    # The first goes at once; each other one sleeps its whole wait in one go, booked when it asked.
    assert clock.slept == pytest.approx([0.4, 0.8, 1.2, 1.6])


def test_any_window_of_a_second_sees_at_most_the_rate_plus_one_start():
    clock = Clock()
    pacer = bucket(2.5, clock)
    starts = []
    for step in range(200):
        clock.now += 0.013 * (step % 7)  # callers arriving unevenly
        starts.append(clock.now + pacer.reserve())
    assert starts == sorted(starts)
    assert max(sum(s <= t < s + 1.0 for t in starts) for s in starts) <= math.floor(2.5) + 1


@pytest.mark.parametrize("rate", [0, -1, math.inf, math.nan, "2", True, None])
def test_a_rate_that_is_not_a_positive_number_is_refused(rate):
    with pytest.raises(ValueError, match="rate must be a positive number"):
        TokenBucket(rate)


@pytest.mark.parametrize("burst", [0, 1.5, True])
def test_a_burst_that_is_not_a_positive_whole_number_is_refused(burst):
    with pytest.raises(ValueError, match="burst must be a positive integer"):
        TokenBucket(1.0, burst=burst)
