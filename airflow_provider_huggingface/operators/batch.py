"""``HuggingFaceBatchChatOperator``: one chat completion per input, many at once, in one task."""

from __future__ import annotations

import contextlib
import math
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import XComArg

from airflow_provider_huggingface._internal.airflow_compat import BaseOperator
from airflow_provider_huggingface._internal.chat import no_usage
from airflow_provider_huggingface.batch.calls import run_to_end
from airflow_provider_huggingface.batch.engine import BatchRun, BatchSettings
from airflow_provider_huggingface.batch.inputs import ListInputs, open_inputs
from airflow_provider_huggingface.batch.requests import RequestBuilder, handed_out
from airflow_provider_huggingface.batch.store import (
    InMemoryResults,
    ReplyFile,
    as_storage_path,
    default_folder,
    input_digest,
    task_instance_file,
)
from airflow_provider_huggingface.exceptions import ConfigurationError
from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook
from airflow_provider_huggingface.operators.huggingface import (
    SETTINGS_FIELDS,
    ChatSettingsMixin,
    _number,
    _validated,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_huggingface._internal.fallback import ModelFallback
    from airflow_provider_huggingface.hooks.huggingface import ChatRequest


class HuggingFaceBatchChatOperator(ChatSettingsMixin, BaseOperator):
    """Ask a Hugging Face chat model once per input, many calls at once, and keep every reply.

    ``user_prompt``, ``system_prompt`` and each ``content`` of ``messages`` are Handlebars templates
    rendered once per input,
    with the input as ``{{item}}`` (``{{item.field}}`` for a dict) beside the names the chat
    operator offers: upstream return values by task id, ``params``, ``conf``, ``ds``, ``ts``,
    ``logical_date``, ``run_id``, ``dag_id`` and ``task_id``. An input is data: ``{{...}}`` inside it
    is never rendered. Every prompt is rendered and checked before the first call, so a template or
    setting mistake fails the task without sending anything, naming the input's index.

    The calls share one connection pool. At most ``max_concurrency`` are in flight; fewer after
    the server answers 429 or 503: the limit halves, no new call goes before the server's
    Retry-After, and the limit grows back a slot at a time (see
    :mod:`airflow_provider_huggingface.batch.limiter`), so that a rate limit is met at the speed it
    allows rather than with a storm of retries. ``max_calls_per_second`` also spaces the start of
    every call, so that batches sharing one account's rate limit need not learn it from 429s. Each
    call retries under the connection's policy,
    each retry waiting for a slot like a new call. The task log shows progress every few seconds,
    not a line per call.

    **Where the replies go.** With ``output_path`` (or, without it, when Airflow's XCom object
    storage is configured: ``[common.io] xcom_objectstorage_path``), each outcome is appended to a
    JSON Lines file of this task instance as it arrives, and flushed, so that a crash loses only the
    calls in flight: ``<folder>/<dag_id>/<run_id>/<task_id>.jsonl`` (``.../<task_id>/<map_index>.jsonl``
    when mapped). A line is ``{"index", "input", "text", "model", "finish_reason", "usage"}`` (and
    ``"json"`` with a JSON ``response_format``) or ``{"index", "input", "error": {"class", "message",
    "status_code"}}``; an index without a line was not sent. A retry of the task instance reads the
    file back and sends only the items not answered (the log says how many answers it reused), then
    the file holds one line per index. The XCom is then small: ``{"output_path", "total", "succeeded",
    "failed", "not_sent", "reused", "usage"}``.

    Without a file, the XCom also holds ``"results"``: in input order, the chat operator's result
    dict for a reply, ``{"index": i, "error": {...}}`` for a failure or an item not sent (class
    ``NotSent``). Metadata DB XComs suit thousands of replies; beyond that give ``output_path``.

    ``usage`` sums the tokens of all replies; ``succeeded`` counts them (``reused`` of them from an
    earlier try). When the task fails, what it has is pushed first, as XCom ``partial_results``
    (the same dict), and the error says how many items failed, were not sent and were answered.

    A failure that every item would share (a rejected token, missing credits, an inaccessible
    model) stops the batch at once, as does a failure that already makes the task fail; the items
    this leaves unsent count as failed. ``max_total_tokens`` and ``max_calls`` stop it from starting
    more calls; the items this leaves unsent do not count as failed.

    :param inputs: the items, one call each: a list, an upstream task's output (an XComArg) that
        resolves to one, or a JSON Lines (``.jsonl``: one JSON value per line) or CSV (``.csv``: one
        dict per row) file given as an ``ObjectStoragePath`` or URI (``file:///data/in.jsonl``),
        read a line at a time. Jinja-rendered like the other fields (a value from XCom is not).
    :param user_prompt: the user message of each call (Handlebars, with ``{{item}}``). Required.
    :param system_prompt: an optional system message of each call (Handlebars, with ``{{item}}``).
    :param messages: a conversation sent in each call after ``system_prompt`` and before
        ``user_prompt`` (few-shot examples): ``{"role": "system" | "user" | "assistant", "content":
        template}`` dicts, each content rendered per input. An upstream task's output is data.
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
    :param output_path: a folder (``ObjectStoragePath`` or URI such as ``file:///data/run1/`` or
        ``s3://bucket/prefix/``) for this task instance's file of replies. Templated.
    :param fallback_models: models to ask, in turn, when ``model`` itself cannot answer (not found
        or not served, gone, still loading after the retries); a model that could not answer is
        skipped for the rest of the batch, and each result's ``model`` says which one answered.
        See :mod:`airflow_provider_huggingface._internal.fallback`. Templated.
    :param max_concurrency: the most calls in flight at once (the adaptive limit starts here).
    :param max_calls_per_second: start at most this many calls a second, retries included, evenly
        spaced (no burst); default None: no pacing. For batches that share one account's rate
        limit, give each the limit divided by how many run at once (the slots of their pool).
        Templated.
    :param max_failed_fraction: the share of items that may fail, from 0 to 1, before the task
        fails: 0 (the default) fails it on any failure, 1 only on a failure every item would share
        (a rejected token, missing credits, an inaccessible model): that is no item's fault.
    :param max_total_tokens: start no new call once the replies used this many tokens (prompt and
        completion, earlier tries' answers included). Calls in flight then still finish, so the
        total can pass it by their tokens.
    :param max_calls: start no more than this many calls (earlier tries' answers included).
    :param validate_model: on the router, ask the Hub once, before the first call, whether the
        model exists, is accessible and can chat; ``False`` skips that check.
    """

    template_fields: Sequence[str] = ("inputs", *SETTINGS_FIELDS, "output_path", "max_calls_per_second")
    template_fields_renderers = {"inputs": "json", "response_format": "json"}
    ui_color = "#ffd21e"
    #: Seconds between two progress lines in the task log.
    progress_interval: float = 5.0

    def __init__(
        self,
        *,
        inputs: Any,
        user_prompt: str | None = None,
        system_prompt: str | None = None,
        messages: list[dict[str, str]] | None = None,
        model: str | None = None,
        hf_conn_id: str = HuggingFaceHook.default_conn_name,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        response_format: dict[str, Any] | None = None,
        output_path: Any = None,
        fallback_models: list[str] | None = None,
        max_concurrency: int = 8,
        max_calls_per_second: float | str | None = None,
        max_failed_fraction: float = 0.0,
        max_total_tokens: int | None = None,
        max_calls: int | None = None,
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
        for name, value in (("max_total_tokens", max_total_tokens), ("max_calls", max_calls)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigurationError(f"{name}={value!r}: give a whole number, at least 1, or None.")
        self.inputs = inputs
        self.user_prompt = user_prompt
        self.system_prompt = system_prompt
        self.messages = messages
        XComArg.apply_upstream_relationship(self, messages)  # not a Jinja field: set here
        self.model = model
        self.hf_conn_id = hf_conn_id
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.stop = stop
        self.seed = seed
        self.response_format = response_format
        self.output_path = output_path
        self.fallback_models = fallback_models
        self.max_concurrency = max_concurrency
        self.max_calls_per_second = max_calls_per_second  # templated: checked at execute time
        self.max_failed_fraction = float(max_failed_fraction)
        self.max_total_tokens = max_total_tokens
        self.max_calls = max_calls
        self.validate_model = validate_model

    @cached_property
    def hook(self) -> HuggingFaceHook:
        return HuggingFaceHook(hf_conn_id=self.hf_conn_id)

    @property
    def settings(self) -> BatchSettings:
        return BatchSettings(
            max_concurrency=self.max_concurrency,
            max_calls_per_second=_calls_per_second(self.max_calls_per_second),
            max_failed_fraction=self.max_failed_fraction,
            max_total_tokens=self.max_total_tokens,
            max_calls=self.max_calls,
            progress_interval=self.progress_interval,
        )

    def reply_file(self, context: Context) -> ReplyFile | None:
        """This task instance's file of replies: under ``output_path``, else the XCom object storage."""
        folder: ObjectStoragePath | None
        if self.output_path not in (None, ""):
            folder = as_storage_path(self.output_path, field="output_path")
        else:
            folder = default_folder()
        return None if folder is None else ReplyFile(task_instance_file(folder, context["ti"]))

    def request_builder(self, context: Context, hook: HuggingFaceHook) -> RequestBuilder:
        return RequestBuilder(
            context=context,
            hook=hook,
            user_prompt=self.user_prompt,
            system_prompt=self.system_prompt,
            messages=self.messages,
            generation=self.chat_settings,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        settings = self.settings  # checked before anything is read or sent
        inputs = open_inputs(self.inputs)
        hook = self.hook
        replies = self.reply_file(context)
        build = self.request_builder(context, hook)
        # First pass: every request is built and checked, nothing is sent; earlier answers are matched.
        # A list is in memory already, so its requests are kept for the calls rather than built again;
        # a file's are built again as its lines are read a second time, so memory stays flat.
        answered = replies.earlier_answers() if replies is not None else {}
        total, first, reuse = 0, None, set()
        kept: list[tuple[int, Any, ChatRequest] | None] | None = (
            [] if isinstance(inputs, ListInputs) else None
        )
        for index, item in enumerate(inputs):
            request = build(index, item)
            first = first or request
            total += 1
            if index in answered and answered[index] == input_digest(item):
                reuse.add(index)
            elif kept is not None:
                kept.append((index, item, request))
        del answered
        reused_usage = replies.keep(reuse) if replies is not None else no_usage()
        if reuse:
            self.log.info(
                "Resuming: %d of %d items were answered by an earlier try and are reused from %s; "
                "%d to send.",
                len(reuse),
                total,
                replies,
                total - len(reuse),
            )
        outcomes: ReplyFile | InMemoryResults = replies if replies is not None else InMemoryResults(total)
        batch = BatchRun(
            hook=hook,
            requests=(
                handed_out(kept)
                if kept is not None
                else ((i, item, build(i, item)) for i, item in enumerate(inputs) if i not in reuse)
            ),
            total=total,
            outcomes=outcomes,
            settings=settings,
            log=self.log,
            reused=len(reuse),
            reused_usage=reused_usage,
        )
        if first is None:
            self.log.info("Batch: no inputs, nothing to send.")
            return self._summary(batch, outcomes)
        if total > len(reuse):
            batch.fallback = self.model_fallback(hook, first)
            rate = settings.max_calls_per_second
            self.log.info(
                "Batch: %d calls to %s, at most %d at once%s; %s.",
                total - len(reuse),
                first.where,
                self.max_concurrency,
                "" if rate is None else f", {rate:g} a second",
                f"replies go to {replies}" if replies is not None else "replies go to XCom at the end",
            )
            if replies is not None:
                replies.open()
            try:
                run_to_end(batch.run())
            except BaseException:
                self._push_partial(context, self._summary(batch, outcomes))
                raise
            finally:
                if replies is not None:
                    replies.close()
        summary = self._summary(batch, outcomes)
        try:
            batch.check()
        except Exception:
            self._push_partial(context, summary)
            raise
        return summary

    def model_fallback(self, hook: HuggingFaceHook, first: ChatRequest) -> ModelFallback | None:
        """The models the batch asks in turn (None without ``fallback_models``), checked on the Hub once
        when ``validate_model``: a model the check rejects is skipped from the start."""
        if not self.fallback_models:
            if self.validate_model:
                hook.validate_model(first)  # one model for the whole batch: one check
            return None
        fallback = hook.model_fallback(first, self.fallback_models)
        if self.validate_model:
            # A model the Hub says cannot chat is skipped from the start, as a call would skip it.
            fallback.run(first, _validated(hook))
        return fallback

    def _summary(self, batch: BatchRun, outcomes: ReplyFile | InMemoryResults) -> dict[str, Any]:
        summary = batch.summary()
        if isinstance(outcomes, ReplyFile):
            return {"output_path": str(outcomes), **summary}
        return {"results": outcomes.results(batch.not_sent_message()), **summary}

    def _push_partial(self, context: Context, summary: dict[str, Any]) -> None:
        # Best effort: the task's own error must reach the log whatever happens here.
        with contextlib.suppress(Exception):
            context["ti"].xcom_push(key="partial_results", value=summary)
            self.log.info("Results so far pushed as XCom partial_results before failing.")


def _calls_per_second(value: Any) -> float | None:
    """``max_calls_per_second`` as rendered: None, or a number above 0 (a Jinja string taken as one)."""
    rate = _number(value, float)
    if rate is None:
        return None
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < math.inf:
        raise ConfigurationError(
            f"max_calls_per_second={value!r}: give a number of calls a second above 0, such as 2.5 "
            "(the account's rate limit divided by the batches that run at once), or None for no pacing."
        )
    return float(rate)
