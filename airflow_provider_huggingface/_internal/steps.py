"""Logic written once, run by a synchronous or an asynchronous driver.

What a call does (retries, fallback models, the structured re-ask, budgets, an agent's turns) is a
generator that *yields* the I/O it needs and receives its outcome: a request to send (a step of the
caller's own type), a :class:`Wait` before a retry, or a :class:`Blocking` call (a look-up on the Hub).
It never sleeps, sends or blocks itself, so the same generator runs under :func:`drive` in a worker and
under :func:`adrive` in an event loop (a trigger, a batch). A failure of the I/O is thrown into the
generator at the ``yield`` that asked for it, where it is handled like any exception.

This is how huggingface_hub keeps one client for two worlds, and how sans-I/O protocol libraries
(h11, httpcore's core) keep their logic apart from their transports.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Generator

T = TypeVar("T")


@dataclass(frozen=True)
class Wait:
    """Sleep this long (a backoff, or the server's Retry-After)."""

    seconds: float


@dataclass(frozen=True)
class Blocking:
    """Call this blocking function (a Hub look-up): in place, or in a thread under an event loop."""

    call: Callable[[], Any]


def drive(steps: Generator[Any, Any, T], perform: Callable[[Any], Any]) -> T:
    """Run ``steps`` to their end in this thread; ``perform(step)`` does each request step."""
    outcome: Any = None
    failure: Exception | None = None
    while True:
        finished, step = _advance(steps, outcome, failure)
        if finished:
            return step
        outcome = failure = None
        try:
            if isinstance(step, Wait):
                time.sleep(step.seconds)
            elif isinstance(step, Blocking):
                outcome = step.call()
            else:
                outcome = perform(step)
        except Exception as exc:
            failure = exc


async def adrive(steps: Generator[Any, Any, T], perform: Callable[[Any], Awaitable[Any]]) -> T:
    """:func:`drive` in an event loop: waits are ``asyncio.sleep``, blocking calls run in a thread."""
    outcome: Any = None
    failure: Exception | None = None
    while True:
        finished, step = _advance(steps, outcome, failure)
        if finished:
            return step
        outcome = failure = None
        try:
            if isinstance(step, Wait):
                await asyncio.sleep(step.seconds)
            elif isinstance(step, Blocking):
                outcome = await asyncio.to_thread(step.call)
            else:
                outcome = await perform(step)
        except Exception as exc:
            failure = exc


def _advance(steps: Generator[Any, Any, Any], outcome: Any, failure: Exception | None) -> tuple[bool, Any]:
    """``(False, the next step)``, or ``(True, the steps' value)`` once they are done.

    Called outside the drivers' except blocks: the client's exception (its request carries the token)
    must not ride along as the ``__context__`` of what the steps raise.
    """
    try:
        return False, steps.send(outcome) if failure is None else steps.throw(failure)
    except StopIteration as done:
        return True, done.value


class _Reached(BaseException):
    """Carries the first request step out of :func:`first_request` (not an error: never caught as one)."""

    def __init__(self, step: Any) -> None:
        super().__init__()
        self.step = step


def first_request(steps: Generator[Any, Any, Any]) -> Any:
    """The first request ``steps`` would send, after their blocking checks; nothing is sent.

    A deferred operator checks its model (and moves past the fallbacks the Hub refuses) in the worker,
    then hands the request to the triggerer; a batch does so once for all its items.
    """

    def stop(step: Any) -> Any:
        raise _Reached(step)

    try:
        drive(steps, stop)
    except _Reached as reached:
        return reached.step
    finally:
        steps.close()
    return None  # the steps finished without a request
