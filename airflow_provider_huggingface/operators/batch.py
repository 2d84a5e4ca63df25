"""``HuggingFaceBatchChatOperator``: one chat completion per input, many at once, in one task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_huggingface.errors import (
    ConfigurationError,
    HuggingFaceError,
    HuggingFacePermanentError,
    InvalidTokenError,
    ModelAccessError,
    ModelNotFoundError,
    ModelNotSupportedError,
    PaymentRequiredError,
    PromptTemplateError,
)
from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from airflow.sdk import Context
    from huggingface_hub import AsyncInferenceClient

    from airflow_provider_huggingface.concurrency import AdaptiveLimiter, Slot
    from airflow_provider_huggingface.hooks.huggingface import ChatRequest

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


class HuggingFaceBatchChatOperator(BaseOperator):
    """Ask a Hugging Face chat model once per input, many calls at once, and push all the replies.

    ``user_prompt`` and ``system_prompt`` are Handlebars templates rendered once per input,
    with the input as ``{{item}}`` (``{{item.field}}`` for a dict) beside the names the chat
    operator offers: upstream return values by task id, ``params``, ``conf``, ``ds``, ``ts``,
    ``logical_date``, ``run_id``, ``dag_id`` and ``task_id``. Every prompt is rendered and
    checked before the first call, so a template or setting mistake fails the task without
    sending anything, naming the input's index.

    The calls share one connection pool. At most ``max_concurrency`` are in flight; fewer after
    the server answers 429 or 503 (the limit halves, then grows back by one per round trip), so
    that a rate limit is met at the speed it allows instead of with a storm of retries. Each
    call retries under the connection's policy. The task log shows progress every few seconds.

    The XCom is one dict: ``{"results": [...], "usage": {...}, "succeeded": n, "failed": n,
    "not_sent": n}``. ``results`` is in input order: the chat operator's result dict for a reply,
    ``{"index": i, "error": {"class", "message", "status_code"}}`` for a failure; ``usage`` sums
    the tokens of all replies. A failure that every item would share (a rejected token, missing
    credits, an inaccessible model) stops the batch at once, as does a failure that already makes
    the task fail; items not sent then hold an error of class ``NotSent``. Metadata DB XComs suit
    thousands of replies; for more, configure an object storage XCom backend.

    :param inputs: the items, one call each: a list, or an upstream task's output (an XComArg)
        that resolves to one. Jinja-rendered like the other fields (a value from XCom is not).
    :param user_prompt: the user message of each call (Handlebars, with ``{{item}}``). Required.
    :param system_prompt: an optional system message of each call (Handlebars, with ``{{item}}``).
    :param model: a model id (``owner/name``); default: the connection's ``default_model``, else
        ``mistralai/Mistral-7B-Instruct-v0.3``. On an endpoint connection, any name the server accepts.
    :param hf_conn_id: the ``huggingface`` connection.
    :param max_tokens: the most tokens to generate per reply.
    :param temperature: sampling temperature, 0 to 2.
    :param top_p: nucleus sampling, above 0 and at most 1.
    :param stop: a string or list of strings that end the generation.
    :param seed: a seed for reproducible sampling, where the server supports it.
    :param response_format: ``{"type": "json_object"}`` or ``{"type": "json_schema", "json_schema": {...}}``;
        each result then also holds ``"json"``, the parsed reply.
    :param max_concurrency: the most calls in flight at once (the adaptive limit starts here).
    :param max_failed_fraction: the share of items that may fail, from 0 to 1, before the task
        fails: 0 (the default) fails it on any failure, 1 never.
    :param validate_model: on the router, ask the Hub once, before the first call, whether the
        model exists, is accessible and can chat; ``False`` skips that check.
    """

    template_fields: Sequence[str] = (
        "inputs",
        "model",
        "hf_conn_id",
        "max_tokens",
        "temperature",
        "top_p",
        "stop",
        "seed",
        "response_format",
    )
    template_fields_renderers = {"inputs": "json", "response_format": "json"}
    ui_color = "#ffd21e"
    #: Seconds between two progress lines in the task log.
    progress_interval: float = 5.0

    def __init__(
        self,
        *,
        inputs: Any,
        user_prompt: str,
        system_prompt: str | None = None,
        model: str | None = None,
        hf_conn_id: str = HuggingFaceHook.default_conn_name,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        response_format: dict[str, Any] | None = None,
        max_concurrency: int = 8,
        max_failed_fraction: float = 0.0,
        validate_model: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ConfigurationError(
                f"max_concurrency={max_concurrency!r}: give a whole number of calls, at least 1."
            )
        if (
            isinstance(max_failed_fraction, bool)
            or not isinstance(max_failed_fraction, (int, float))
            or not 0 <= max_failed_fraction <= 1
        ):
            raise ConfigurationError(
                f"max_failed_fraction={max_failed_fraction!r}: give a number from 0 (any failure fails "
                "the task) to 1 (failures never fail it)."
            )
        self.inputs = inputs
        self.user_prompt = user_prompt
        self.system_prompt = system_prompt
        self.model = model
        self.hf_conn_id = hf_conn_id
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.stop = stop
        self.seed = seed
        self.response_format = response_format
        self.max_concurrency = max_concurrency
        self.max_failed_fraction = float(max_failed_fraction)
        self.validate_model = validate_model

    @property
    def hook(self) -> HuggingFaceHook:
        return HuggingFaceHook(hf_conn_id=self.hf_conn_id)

    def items(self) -> list[Any]:
        """The rendered ``inputs`` as a list."""
        inputs = self.inputs
        if isinstance(inputs, (str, bytes, Mapping)) or not isinstance(inputs, Iterable):
            hint = (
                " A Jinja template renders to a string: pass the upstream task's output itself "
                "(inputs=my_task.output), or set render_template_as_native_obj=True on the DAG."
                if isinstance(inputs, str)
                else ""
            )
            raise ConfigurationError(f"inputs must be a list, not {type(inputs).__name__}.{hint}")
        return list(inputs)  # also reads a mapped task's lazy XCom sequence

    def prepare_requests(
        self, context: Context, items: list[Any], hook: HuggingFaceHook
    ) -> list[ChatRequest]:
        """Render both prompts for every item and check each call; nothing is sent.

        :raises PromptTemplateError, ConfigurationError: naming the index of the first bad item.
        """
        from airflow_provider_huggingface.scope import prompt_scope
        from airflow_provider_huggingface.templating import referenced_roots, render_prompt

        settings = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": self.stop,
            "seed": self.seed,
            "response_format": self.response_format,
        }
        # The settings are the same for every item: a mistake there is not any one item's.
        hook.prepare_chat(user_prompt="check", **settings)
        # One scope for all items (an XCom is pulled once); `item` is laid over it per input.
        scope = prompt_scope(context, item=None)
        fields = {"user_prompt": self.user_prompt, "system_prompt": self.system_prompt}
        fixed: dict[str, str | None] = {}
        for field, template in fields.items():
            if not template:
                fixed[field] = None
            elif not _per_item(template, referenced_roots(template, field=field)):
                # Rendered once: the same text for every item, and shared by all their requests.
                fixed[field] = render_prompt(template, scope, field=field)
        requests = []
        for index, item in enumerate(items):
            item_scope = _ItemScope(scope, item)
            try:
                prompts = {
                    field: fixed[field]
                    if field in fixed
                    else render_prompt(template, item_scope, field=field)
                    for field, template in fields.items()
                }
                requests.append(hook.prepare_chat(**prompts, **settings))
            except (PromptTemplateError, ConfigurationError) as error:
                raise type(error)(f"inputs[{index}] ({_preview(item)}): {error}") from None
        return requests

    def execute(self, context: Context) -> dict[str, Any]:
        items = self.items()
        hook = self.hook
        requests = self.prepare_requests(context, items, hook)
        if not requests:
            self.log.info("Batch: no inputs, nothing to send.")
            return _summary([], [], 0)
        if self.validate_model:
            hook.validate_model(requests[0])  # one model for the whole batch: one check
        self.log.info(
            "Batch: %d calls to %s, at most %d at once.", len(items), requests[0].where, self.max_concurrency
        )
        batch = _Batch(self, hook, requests)
        _run(batch.run())
        summary = _summary(batch.results, batch.failures, batch.not_sent)
        batch.check(summary)
        return summary


def _per_item(template: str, roots: frozenset[str]) -> bool:
    # `{{this}}` or `@root` at the top could reach the item without naming it.
    return "item" in roots or "this" in template or "@root" in template


class _ItemScope(Mapping[str, Any]):
    """The shared scope with ``item`` set to one input; loads nothing by itself."""

    __slots__ = ("_base", "_item")

    def __init__(self, base: Mapping[str, Any], item: Any) -> None:
        self._base = base
        self._item = item

    def __getitem__(self, name: str) -> Any:
        return self._item if name == "item" else self._base[name]

    def __contains__(self, name: object) -> bool:
        return name == "item" or name in self._base

    def __iter__(self) -> Iterator[str]:
        yield "item"
        yield from (name for name in self._base if name != "item")

    def __len__(self) -> int:
        return len(self._base) + ("item" not in self._base)


def _preview(item: Any, size: int = 60) -> str:
    text = repr(item)
    return text if len(text) <= size else text[: size - 3] + "..."


def _run(coroutine: Any) -> Any:
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
    """The shared client as one call sees it: each attempt, retries included, takes a slot.

    The hook retries inside ``achat``; a slot per attempt rather than per call keeps a call that
    sleeps before its retry from holding a slot, and sends its retry through the limit and the
    server's Retry-After like any new call, instead of in a wave with the others it failed with.
    """

    def __init__(self, client: AsyncInferenceClient, limiter: AdaptiveLimiter, batch: _Batch) -> None:
        self._client = client
        self._limiter = limiter
        self._batch = batch
        self._last: Slot | None = None

    async def chat_completion(self, *args: Any, **kwargs: Any) -> Any:
        async with self._limiter.slot() as slot:
            self._last = slot
            return await self._client.chat_completion(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def on_retry(self, error: HuggingFaceError) -> None:
        self._batch.retries += 1
        if self._last is not None:
            self._last.on_retry(error)

    def succeeded(self) -> None:
        if self._last is not None:
            self._last.succeeded()

    def failed(self, error: HuggingFaceError) -> None:
        if self._last is not None:
            self._last.failed(error)


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


def _summary(results: list[dict[str, Any] | None], failures: list[int], not_sent: int) -> dict[str, Any]:
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


class _Batch:
    """One run of the batch: a pool of workers pulling item indices, under an adaptive limit.

    ``max_concurrency`` workers, not one task per item, so memory does not grow with the inputs
    beyond their requests and results; a request is dropped once sent.
    """

    def __init__(self, operator: HuggingFaceBatchChatOperator, hook: HuggingFaceHook, requests: list[Any]):
        from airflow_provider_huggingface.concurrency import AdaptiveLimiter

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

    @property
    def done(self) -> int:
        return self.succeeded + len(self.failures)

    async def run(self) -> None:
        # A log line per request or per retry would bury the progress lines in a big batch.
        self.hook._log = _FirstWarnings(self.hook.log, _LOGGED_RETRIES)  # LoggingMixin's logger cache
        with _quiet_http_logs():
            await self._run()

    async def _run(self) -> None:
        async with self.hook.get_async_client() as client:
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
                self.results[index] = _error_entry(index, "NotSent", f"Not sent: {self.stop_reason}")
        self.log.info("Batch finished: %s", self._status())

    def _more(self) -> bool:
        return self.stop_reason is None and self.next_index < self.total

    async def _worker(self, client: AsyncInferenceClient) -> None:
        from airflow_provider_huggingface.hooks.huggingface import count_tokens

        while self._more():
            index = self.next_index
            self.next_index += 1
            request = self.requests[index]
            self.requests[index] = None  # the result takes its place
            assert request is not None
            limited = _LimitedClient(client, self.limiter, self)
            try:
                result = await self.hook.achat(
                    request, client=limited, on_retry=limited.on_retry, report=False
                )
            except HuggingFaceError as error:
                limited.failed(error)
                self._failed(index, error)
            else:
                limited.succeeded()
                self.results[index] = result
                self.succeeded += 1
                count_tokens(result["model"], result["usage"])

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
        if self.stop_reason is not None and self.next_index < self.total:
            self.log.error(
                "Stopping the batch, %d item(s) not sent: %s", self.total - self.next_index, self.stop_reason
            )

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
