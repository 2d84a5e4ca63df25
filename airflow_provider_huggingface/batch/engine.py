"""The engine of :class:`~airflow_provider_huggingface.operators.batch.HuggingFaceBatchChatOperator`:
a pool of workers sending one chat completion per input under an adaptive concurrency limit,
stopping early when every remaining call would fail alike, and reporting progress."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface.exceptions import (
    HuggingFaceError,
    HuggingFacePermanentError,
    InvalidTokenError,
    ModelAccessError,
    ModelNotFoundError,
    ModelNotSupportedError,
    PaymentRequiredError,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from huggingface_hub import AsyncInferenceClient

    from airflow_provider_huggingface.batch.limiter import AdaptiveLimiter
    from airflow_provider_huggingface.hooks.huggingface import ChatRequest, HuggingFaceHook
    from airflow_provider_huggingface.operators.batch import HuggingFaceBatchChatOperator

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
_LOGGED_RETRIES = 5  # the hook's retry lines let through; the rest are counted in the progress lines
_HTTP_LOGGERS = ("httpx", "httpx2", "httpcore")  # each logs one INFO line per request


def run_to_end(coroutine: Any) -> Any:
    """Run a coroutine to its end from synchronous code, even under an already running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    from concurrent.futures import ThreadPoolExecutor

    # A worker that itself runs an event loop (some executors do): asyncio.run needs its own thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@contextlib.contextmanager
def _quiet_http_logs() -> Iterator[None]:
    """Raise the HTTP libraries' loggers to WARNING for a while."""
    loggers = [logging.getLogger(name) for name in _HTTP_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class _LimitedClient:
    """The shared client as the batch's calls see it: each attempt, retries included, takes a slot.

    The hook retries inside ``achat``. A slot per attempt rather than per call keeps a call that
    sleeps before its retry from holding a slot, and sends the retry through the limit and the
    server's Retry-After like any new call, rather than in a wave with the calls it failed with.
    The limiter hears of a failed attempt before its slot is passed on.
    """

    def __init__(self, client: AsyncInferenceClient, batch: BatchRun) -> None:
        self._client = client
        self._limiter = batch.limiter
        self._hook = batch.hook
        self._batch = batch

    async def chat_completion(self, *args: Any, **kwargs: Any) -> Any:
        async with self._limiter.slot() as slot:
            if self._batch.stop_reason is not None:  # decided while this attempt waited for its slot
                raise _Stopped("The batch stopped.")
            try:
                output = await self._client.chat_completion(*args, **kwargs)
            except Exception as exc:
                slot.failed(self._hook.map_error(exc))  # its status and Retry-After; achat maps it too
                raise
            slot.succeeded()
            return output

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _Stopped(HuggingFacePermanentError):
    """Raised instead of sending an attempt once the batch has stopped; never retried."""


class _FirstWarnings:
    """A logger that lets through only its first ``keep`` warnings (the hook's retry lines)."""

    def __init__(self, log: Any, keep: int) -> None:
        self._inner = log
        self._keep = keep
        self._seen = 0

    def warning(self, *args: Any, **kwargs: Any) -> None:
        self._seen += 1
        if self._seen <= self._keep:
            self._inner.warning(*args, **kwargs)
        if self._seen == self._keep:
            self._inner.warning("Further retries are counted in the progress lines.")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _error_entry(index: int, kind: str, message: str, status_code: int | None = None) -> dict[str, Any]:
    return {"index": index, "error": {"class": kind, "message": message, "status_code": status_code}}


def summarize(results: list[dict[str, Any] | None], failures: list[int], not_sent: int) -> dict[str, Any]:
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    for result in results:
        if result is not None and "error" not in result:
            for kind, count in (result.get("usage") or {}).items():
                if kind in usage:
                    usage[kind] += count
    return {
        "results": results,
        "usage": usage,
        "succeeded": len(results) - len(failures) - not_sent,
        "failed": len(failures) + not_sent,
        "not_sent": not_sent,
    }


class BatchRun:
    """One run of the batch: a pool of workers pulling item indices, under an adaptive limit.

    ``max_concurrency`` workers, not one task per item, so memory does not grow with the inputs
    beyond their requests and results; a request is dropped once sent.
    """

    def __init__(self, operator: HuggingFaceBatchChatOperator, hook: HuggingFaceHook, requests: list[Any]):
        from airflow_provider_huggingface.batch.limiter import AdaptiveLimiter

        self.operator = operator
        self.log = operator.log
        self.hook = hook
        self.requests: list[ChatRequest | None] = requests
        self.total = len(requests)
        self.results: list[dict[str, Any] | None] = [None] * self.total
        self.limiter: AdaptiveLimiter = AdaptiveLimiter(operator.max_concurrency)
        self.next_index = 0
        self.succeeded = 0
        self.failures: list[int] = []  # indices, in the order they failed
        self.errors: dict[int, HuggingFaceError] = {}  # the first few, for the task's error message
        self.all_permanent = True
        self.not_sent = 0
        self.retries = 0
        self.stop_reason: str | None = None
        self.started = time.monotonic()
        self.retry_log = _FirstWarnings(hook.log, _LOGGED_RETRIES)
        self.fatal: HuggingFaceError | None = None  # a failure about the connection or model

    @property
    def done(self) -> int:
        return self.succeeded + len(self.failures)

    async def run(self) -> None:
        # A log line per request or per retry would bury the progress lines in a big batch.
        with _quiet_http_logs():
            await self._run()

    async def _run(self) -> None:
        async with self.hook.get_async_client() as own:
            client = _LimitedClient(own, self)
            progress = asyncio.create_task(self._progress())
            workers = [
                asyncio.create_task(self._worker(client))
                for _ in range(min(self.operator.max_concurrency, self.total))
            ]
            try:
                await asyncio.gather(*workers)
            finally:
                # After a bug in one worker (a failed call is no exception here), or a cancelled task.
                for task in (progress, *workers):
                    task.cancel()
                await asyncio.gather(progress, *workers, return_exceptions=True)
        for index in range(self.total):
            if self.results[index] is None:
                self.not_sent += 1
                message = f"Not sent, or its retry not sent, because the batch stopped: {self.stop_reason}"
                self.results[index] = _error_entry(index, "NotSent", message)
        self.log.info("Batch finished: %s", self._status())

    def _more(self) -> bool:
        return self.stop_reason is None and self.next_index < self.total

    async def _worker(self, client: _LimitedClient) -> None:
        from airflow_provider_huggingface.hooks.huggingface import count_tokens

        while self._more():
            index = self.next_index
            self.next_index += 1
            request = self.requests[index]
            self.requests[index] = None  # the result takes its place
            if request is None:  # each index is handed out once: a second visit is a bug of ours
                raise RuntimeError(f"Batch request {index} was handed out twice")
            try:
                result = await self.hook.achat(
                    request,
                    client=client,  # type: ignore[arg-type]  # stands in for AsyncInferenceClient
                    on_retry=self._retried,
                    report=False,
                    retry_log=self.retry_log,
                )
            except _Stopped:
                return  # counted as not sent
            except HuggingFaceError as error:
                self._failed(index, error)
            else:
                self.results[index] = dict(result)  # a ChatResult, among error entries
                self.succeeded += 1
                count_tokens(result["model"], result["usage"])

    def _retried(self, error: HuggingFaceError) -> None:
        self.retries += 1

    def _failed(self, index: int, error: HuggingFaceError) -> None:
        self.results[index] = _error_entry(index, type(error).__name__, str(error), error.status_code)
        self.failures.append(index)
        self.all_permanent = self.all_permanent and isinstance(error, HuggingFacePermanentError)
        if len(self.errors) < _QUOTED_FAILURES:
            self.errors[index] = error
        failed = len(self.failures)
        if failed <= _LOGGED_FAILURES:
            more = "; further ones are counted in the progress lines" if failed == _LOGGED_FAILURES else ""
            self.log.warning("Item %d failed: %s: %s%s", index, type(error).__name__, error, more)
        if self.stop_reason is not None:
            return
        fraction = self.operator.max_failed_fraction
        if isinstance(error, _FATAL):
            self.fatal = error
            self.stop_reason = (
                f"item {index} failed with {type(error).__name__}, which every other item would meet too."
            )
        elif failed > fraction * self.total:
            self.stop_reason = (
                f"{failed} of {self.total} items failed already, more than max_failed_fraction={fraction:g} "
                "allows: the task fails whatever the other items give."
            )
        elif self.succeeded == 0 and failed >= min(_BREAKER, self.total) and self._alike():
            self.stop_reason = (
                f"the first {failed} items all failed with {type(error).__name__} and none succeeded."
            )
        if self.stop_reason is not None and self.done < self.total:
            self.log.error("Stopping the batch: %s", self.stop_reason)

    def _alike(self) -> bool:
        classes = {self.results[i]["error"]["class"] for i in self.failures}  # type: ignore[index]
        return self.all_permanent and len(classes) == 1

    def _status(self) -> str:
        elapsed = time.monotonic() - self.started
        limiter = self.limiter
        not_sent = f", {self.not_sent} not sent" if self.not_sent else ""
        return (
            f"{self.done}/{self.total} done in {elapsed:.1f} s ({self.done / max(elapsed, 1e-9):.1f}/s), "
            f"{self.succeeded} succeeded, {len(self.failures)} failed{not_sent}, {self.retries} retries; "
            f"concurrency {limiter.slots} of {limiter.max_limit}, {limiter.in_flight} in flight, "
            f"lowered {limiter.decreases} time(s)"
        )

    async def _progress(self) -> None:
        while True:
            await asyncio.sleep(self.operator.progress_interval)
            self.log.info("Batch progress: %s", self._status())

    def check(self, summary: dict[str, Any]) -> None:
        """Raise when more items failed than ``max_failed_fraction`` allows."""
        failed, total = summary["failed"], self.total
        fraction = self.operator.max_failed_fraction
        if self.fatal is not None:
            # Even max_failed_fraction=1.0 must not let a bad token or model pass for success.
            raise type(self.fatal)(f"The batch stopped: {self.stop_reason} {self.fatal}")
        if not failed or failed <= fraction * total:
            if failed:
                self.log.warning(
                    "%d of %d items failed, within max_failed_fraction=%g.", failed, total, fraction
                )
            return
        quoted = "; ".join(f"item {i}: {type(e).__name__}: {e}" for i, e in self.errors.items())
        stopped = f" Stopped early: {self.stop_reason}" if self.stop_reason else ""
        message = (
            f"{failed} of {total} items failed ({failed / total:.1%}), more than max_failed_fraction="
            f"{fraction:g} allows.{stopped} First failures: {quoted}"
        )
        # Airflow's task retries cannot cure permanent failures; a transient one may pass next time.
        raise (HuggingFacePermanentError if self.all_permanent else HuggingFaceError)(message)
