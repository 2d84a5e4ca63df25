"""The engine of the batch operators (:class:`~airflow_provider_huggingface.operators.batch.
HuggingFaceBatchChatOperator`, :class:`~airflow_provider_huggingface.operators.embedding.
HuggingFaceEmbeddingOperator`): a pool of workers sending one request per unit (a chat completion per
input, an embedding request per batch of texts) under an adaptive concurrency limit, handing each
outcome on as it arrives, stopping early when every remaining call would fail alike or the budget is
spent, and reporting progress. Counts are of items: a unit of 32 texts counts 32.

It knows nothing of operators: it is handed its :class:`BatchSettings`, a hook and what sends a unit,
the calls' shared session (fallback models, budget), the units as an iterator, where outcomes go and
a logger."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_huggingface._internal.http_logs import quiet_http_logs
from airflow_provider_huggingface.batch.calls import BatchStopped, LimitedClient
from airflow_provider_huggingface.exceptions import (
    BudgetExhaustedError,
    HuggingFaceError,
    HuggingFacePermanentError,
    InvalidTokenError,
    ModelAccessError,
    ModelNotFoundError,
    ModelNotSupportedError,
    PaymentRequiredError,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator
    from logging import Logger

    from airflow_provider_huggingface._internal.chat import ChatRequest, ChatResult
    from airflow_provider_huggingface._internal.chat_flow import ChatSession
    from airflow_provider_huggingface.batch.limiter import AdaptiveLimiter
    from airflow_provider_huggingface.batch.pacing import TokenBucket
    from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook

# Failures about the connection or the model, not the item: every other item would fail alike.
_FATAL = (
    InvalidTokenError,
    PaymentRequiredError,
    ModelAccessError,
    ModelNotFoundError,
    ModelNotSupportedError,
)
# Stop when this many items have failed for good, all alike, and none has succeeded.
_BREAKER = 10
_LOGGED_FAILURES = 5  # failures logged one by one; the rest are counted in the progress lines
_QUOTED_FAILURES = 3  # failures quoted in the task's error message


@dataclass(frozen=True)
class BatchSettings:
    """How a batch runs.

    :param max_concurrency: the most calls in flight (the adaptive limit starts here).
    :param max_calls_per_second: the most attempts started a second (retries included); None: unpaced.
    :param max_failed_fraction: the share of items that may fail before the batch stops and fails.
    :param progress_interval: seconds between two progress lines.

    The budget (``max_calls``, ``max_total_tokens``) is the calls' session's.
    """

    max_concurrency: int = 8
    max_calls_per_second: float | None = None
    max_failed_fraction: float = 0.0
    progress_interval: float = 5.0

    @classmethod
    def checked(cls, *, max_calls_per_second: Any = None, **settings: Any) -> BatchSettings:
        """The settings of a task's (rendered) arguments: ``max_calls_per_second`` is templated, so a
        string such as ``"2.5"`` is taken as the number it says, and checked here."""
        from airflow_provider_huggingface._internal.validation import POSITIVE, check_number, from_template

        hint = (
            " Give the account's rate limit divided by the batches that run at once, such as 2.5, "
            "or None for no pacing."
        )
        rate = from_template(max_calls_per_second, POSITIVE)
        rate = check_number("max_calls_per_second", rate, POSITIVE, hint=hint, written=max_calls_per_second)
        return cls(max_calls_per_second=rate, **settings)


class Outcomes(Protocol):
    """Where each unit's outcome goes as soon as it is known."""

    def answered(self, index: Any, item: Any, request: Any, result: Any) -> None: ...

    def failed(self, index: Any, item: Any, request: Any, error: HuggingFaceError) -> None: ...


def name_of(key: Any) -> str:
    """How the log and errors name a unit: ``item 3``, or the key's own words (``texts 64 to 95``)."""
    return f"item {key}" if isinstance(key, int) else str(key)


class BatchRun:
    """One run of the batch: a pool of workers pulling requests, under an adaptive limit.

    ``max_concurrency`` workers, not one task per item, and requests pulled from an iterator as
    workers free up: memory holds the calls in flight, not the batch.

    :param hook: the hook whose client the calls share (and whose ``achat`` sends a chat).
    :param session: what every call shares: the fallback models, the budget (earlier tries' answers
        counted in it already), where retry lines go.
    :param requests: ``(key, input, request)`` for each unit to send, in order: an item's index, its
        input and its request; or a unit's key (see :func:`name_of`), its items and their request.
    :param total: the number of items in the batch, answered ones of earlier tries included.
    :param outcomes: told of each answer and each failure as it arrives.
    :param settings: limits and budgets.
    :param log: where progress and failures are logged.
    :param reused: items answered by earlier tries (not sent again).
    :param checkpoint: saves what arrived so far, awaited with each progress line (a batch whose
        answers go to the task state store).
    :param send: sends a unit's request with the batch's client and session and returns its result;
        default: the hook's ``achat``.
    :param size_of: how many items a unit's request holds (default 1).
    """

    def __init__(
        self,
        *,
        hook: HuggingFaceHook,
        session: ChatSession,
        requests: Iterator[tuple[Any, Any, Any]],
        total: int,
        outcomes: Outcomes,
        settings: BatchSettings,
        log: Logger | Any,
        reused: int = 0,
        checkpoint: Callable[[], Awaitable[None]] | None = None,
        send: Callable[[Any, LimitedClient, ChatSession], Awaitable[Any]] | None = None,
        size_of: Callable[[Any], int] | None = None,
    ) -> None:
        from airflow_provider_huggingface.batch.limiter import AdaptiveLimiter
        from airflow_provider_huggingface.batch.pacing import TokenBucket

        self.settings = settings
        self.log = log
        self.hook = hook
        self.requests = requests
        self.total = total
        self.outcomes = outcomes
        self.limiter: AdaptiveLimiter = AdaptiveLimiter(settings.max_concurrency)
        self.pacer: TokenBucket | None = (
            None if settings.max_calls_per_second is None else TokenBucket(settings.max_calls_per_second)
        )
        self.reused = reused
        self.checkpoint = checkpoint
        self.send = send or self._chat
        self.size_of = size_of or _one
        self.sent = 0
        self.calls = 0  # units finished, answered or failed
        self.succeeded = 0
        self.failed_items = 0
        self.failures: list[Any] = []  # unit keys, in the order they failed
        self.failure_classes: set[str] = set()
        self.errors: dict[Any, HuggingFaceError] = {}  # the first few, for the task's error message
        self.all_permanent = True
        self.retries = 0
        self.stop_reason: str | None = None
        self.budget_reached = False  # the stop was the budget's, not the failures'
        self.started = time.monotonic()
        self.fatal: HuggingFaceError | None = None  # a failure about the connection or model
        self.fatal_reason = ""
        self._exhausted = False
        # The model was checked once for the whole batch (see batch.runner): not again per call.
        self.session = dataclasses.replace(
            session, validate_model=False, report=False, on_failure=self._attempt_failed
        )

    @property
    def done(self) -> int:
        return self.reused + self.succeeded + self.failed_items

    @property
    def answered(self) -> int:
        return self.reused + self.succeeded

    @property
    def not_sent(self) -> int:
        return self.total - self.done

    async def run(self) -> None:
        # A log line per request or per retry would bury the progress lines in a big batch.
        with quiet_http_logs():
            await self._run()

    async def _run(self) -> None:
        async with self.hook.open_async_client() as own:
            client = LimitedClient(
                own,
                limiter=self.limiter,
                pacer=self.pacer,
                map_error=self.hook.map_error,
                stopped=lambda: self.stop_reason,
            )
            progress = asyncio.create_task(self._progress())
            workers = [
                asyncio.create_task(self._worker(client))
                for _ in range(max(1, min(self.settings.max_concurrency, self.total - self.reused)))
            ]
            try:
                await asyncio.gather(*workers)
            finally:
                # After a bug in one worker (a failed call is no exception here), or a cancelled task.
                for task in (progress, *workers):
                    task.cancel()
                await asyncio.gather(progress, *workers, return_exceptions=True)
        self.log.info("Batch finished: %s", self._status())

    def _next(self) -> tuple[Any, Any, Any] | None:
        """The next item to send, or None when there is none or the batch must stop starting calls."""
        if self.stop_reason is not None or self._exhausted:
            return None
        budget = self.session.budget.spent()
        if budget is not None:
            self.stop_reason, self.budget_reached = f"budget reached: {budget}", True
            self.log.warning("Not starting more calls: %s", budget)
            return None
        following = next(self.requests, None)
        if following is None:
            self._exhausted = True
        else:
            self.sent += 1
        return following

    async def _chat(self, request: ChatRequest, client: LimitedClient, session: ChatSession) -> ChatResult:
        # A LimitedClient stands in for the AsyncInferenceClient: it has its chat_completion.
        return await self.hook.achat(request, client=client, session=session)  # type: ignore[arg-type]

    async def _worker(self, client: LimitedClient) -> None:
        while (following := self._next()) is not None:
            index, item, request = following
            try:
                result = await self.send(request, client, self.session)
            except (BatchStopped, BudgetExhaustedError):
                self.sent -= 1
                return  # counted as not sent
            except HuggingFaceError as error:
                self._failed(index, item, request, error)
            else:
                # The steps have counted its tokens in the budget and in Airflow's metrics already.
                self.calls += 1
                self.succeeded += self.size_of(request)
                self.outcomes.answered(index, item, request, result)

    def _attempt_failed(self, error: HuggingFaceError, retried: bool) -> None:
        self.retries += retried

    def _failed(self, index: Any, item: Any, request: Any, error: HuggingFaceError) -> None:
        self.outcomes.failed(index, item, request, error)
        self.calls += 1
        self.failures.append(index)
        self.failed_items += self.size_of(request)
        self.failure_classes.add(type(error).__name__)
        self.all_permanent = self.all_permanent and isinstance(error, HuggingFacePermanentError)
        if len(self.errors) < _QUOTED_FAILURES:
            self.errors[index] = error
        failed = self.failed_items
        if len(self.failures) <= _LOGGED_FAILURES:
            last = len(self.failures) == _LOGGED_FAILURES
            more = "; further ones are counted in the progress lines" if last else ""
            name = name_of(index)
            self.log.warning(
                "%s failed: %s: %s%s", name[:1].upper() + name[1:], type(error).__name__, error, more
            )
        if isinstance(error, _FATAL) and self.fatal is None:
            # Even after a budget stop: a call still in flight that meets a revoked token fails the task.
            self.fatal = error
            self.fatal_reason = (
                f"{name_of(index)} failed with {type(error).__name__}, which every other item would meet too."
            )
        if self.stop_reason is not None:
            return
        fraction = self.settings.max_failed_fraction
        planned = self._planned()  # the fraction is measured over those attempted
        if self.fatal is not None:
            self.stop_reason = self.fatal_reason
        elif failed > fraction * planned:
            self.stop_reason = (
                f"{failed} of {planned} items failed already, more than max_failed_fraction={fraction:g} "
                "allows: the task fails whatever the other items give."
            )
        elif self.answered == 0 and failed >= min(_BREAKER, self.total) and self._alike():
            self.stop_reason = (
                f"the first {failed} items all failed with {type(error).__name__} and none succeeded."
            )
        if self.stop_reason is not None and self.done < self.total:
            self.log.error("Stopping the batch: %s", self.stop_reason)

    def _alike(self) -> bool:
        return self.all_permanent and len(self.failure_classes) == 1

    def counts(self) -> str:
        """``3 failed, 21 not sent, 6 answered`` (with how many answers an earlier try gave)."""
        reused = f" ({self.reused} by an earlier try)" if self.reused else ""
        return f"{self.failed_items} failed, {self.not_sent} not sent, {self.answered} answered{reused}"

    def _status(self) -> str:
        elapsed = time.monotonic() - self.started
        limiter = self.limiter
        rate = self.calls / max(elapsed, 1e-9)
        return (
            f"{self.done}/{self.total} done in {elapsed:.1f} s ({rate:.1f} calls/s): "
            f"{self.answered} answered, {self.failed_items} failed, {self.not_sent} not sent or in flight; "
            f"{self.retries} retries; "
            f"concurrency {limiter.slots} of {limiter.max_limit}, {limiter.in_flight} in flight, "
            f"lowered {limiter.decreases} time(s)"
        )

    async def _progress(self) -> None:
        while True:
            await asyncio.sleep(self.settings.progress_interval)
            self.log.info("Batch progress: %s", self._status())
            if self.checkpoint is not None:
                await self.checkpoint()

    def summary(self) -> dict[str, Any]:
        """The counts and the summed usage (answers of earlier tries included)."""
        return {
            "total": self.total,
            "succeeded": self.answered,
            "failed": self.failed_items,
            "not_sent": self.not_sent,
            "reused": self.reused,
            "usage": dict(self.session.budget.usage),
        }

    @staticmethod
    def empty_summary(total: int = 0) -> dict[str, Any]:
        """The summary of a batch that sent nothing."""
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        return {"total": total, "succeeded": 0, "failed": 0, "not_sent": total, "reused": 0, "usage": usage}

    def not_sent_message(self) -> str:
        if self.budget_reached:
            return f"Not sent: {self.stop_reason}"
        return f"Not sent, or its retry not sent, because the batch stopped: {self.stop_reason}"

    def failed_share(self) -> tuple[int, int]:
        """``(failed, attempted)``: what ``max_failed_fraction`` is measured on.

        Items are attempted when they were sent (in this try or an earlier one). When the batch
        stopped on failures, the items it left unsent that the budget would have let it send count as
        failed and as attempted (they would have met the same); items left unsent because the budget
        was reached count in neither.
        """
        failed = self.failed_items
        if self.stop_reason is None or self.budget_reached:
            return failed, self.done
        planned = max(self._planned(), self.done)
        return failed + min(self.not_sent, planned - self.done), planned

    def _planned(self) -> int:
        """The most items this batch can attempt, within ``max_calls``."""
        max_calls = self.session.budget.max_calls
        return self.total if max_calls is None else min(self.total, max_calls)

    def check(self) -> None:
        """Raise when more items failed than ``max_failed_fraction`` allows of those attempted."""
        counted, attempted = self.failed_share()
        total = self.total
        fraction = self.settings.max_failed_fraction
        if self.fatal is not None:
            # Even max_failed_fraction=1.0 must not let a bad token or model pass for success.
            raise type(self.fatal)(f"The batch stopped: {self.fatal_reason} {self.fatal} ({self.counts()})")
        if not counted or counted <= fraction * attempted:
            if counted:
                self.log.warning(
                    "%s, within max_failed_fraction=%g of the %d attempted.",
                    self.counts(),
                    fraction,
                    attempted,
                )
            if self.budget_reached and self.not_sent:
                self.log.warning("%d of %d items not sent: %s", self.not_sent, total, self.stop_reason)
            return
        quoted = "; ".join(f"{name_of(i)}: {type(e).__name__}: {e}" for i, e in self.errors.items())
        stopped = f" Stopped early: {self.stop_reason}" if self.stop_reason else ""
        message = (
            f"The batch failed: {self.counts()} of {total} items. {counted} of {attempted} attempted "
            f"failed or were not sent ({counted / attempted:.1%}), more than "
            f"max_failed_fraction={fraction:g} allows.{stopped} First failures: {quoted}"
        )
        # Airflow's task retries cannot cure permanent failures; a transient one may pass next time.
        raise (HuggingFacePermanentError if self.all_permanent else HuggingFaceError)(message)


def _one(request: Any) -> int:
    return 1
