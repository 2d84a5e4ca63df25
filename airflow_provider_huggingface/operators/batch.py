"""``HuggingFaceBatchChatOperator``: one chat completion per input, many at once, in one task."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import XComArg

from airflow_provider_huggingface._internal.validation import COUNT, FRACTION, check_number
from airflow_provider_huggingface.operators.base import (
    PROMPT_FIELDS,
    SETTINGS_FIELDS,
    HuggingFaceChatBaseOperator,
    keeps_model_link,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from airflow_provider_huggingface._internal.chat import ChatRequest, TokenUsage
    from airflow_provider_huggingface._internal.chat_flow import ChatSession
    from airflow_provider_huggingface.batch.engine import BatchSettings
    from airflow_provider_huggingface.batch.requests import RequestBuilder
    from airflow_provider_huggingface.batch.state import StateStoreReplies
    from airflow_provider_huggingface.batch.store import ReplyFile
    from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook

# A DAG file imports this module at every parse: the batch package is imported when a task runs.


class HuggingFaceBatchChatOperator(HuggingFaceChatBaseOperator):
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
    this leaves unsent count as failed. ``max_total_tokens`` and ``max_calls`` (the task's budget, as
    on every chat operator: all its items together, earlier tries' answers included) stop it from
    starting more calls; the items this leaves unsent do not count as failed.

    It takes every parameter of
    :class:`~airflow_provider_huggingface.operators.base.HuggingFaceChatBaseOperator` (the prompts,
    rendered per input; the generation settings, per reply; the budget) and of
    :class:`~airflow_provider_huggingface.operators.base.HuggingFaceBaseOperator` (``model``,
    ``hf_conn_id``, ``fallback_models``: a model that could not answer is skipped for the rest of the
    batch; ``validate_model``: asked once, before the first call). ``user_prompt`` is required. And:

    :param inputs: the items, one call each: a list, an upstream task's output (an XComArg) that
        resolves to one, or a JSON Lines (``.jsonl``: one JSON value per line) or CSV (``.csv``: one
        dict per row) file given as an ``ObjectStoragePath`` or URI (``file:///data/in.jsonl``),
        read a line at a time. Jinja-rendered like the other fields (a value from XCom is not).
    :param output_path: a folder (``ObjectStoragePath`` or URI such as ``file:///data/run1/`` or
        ``s3://bucket/prefix/``) for this task instance's file of replies. Templated.
    :param max_concurrency: the most calls in flight at once (the adaptive limit starts here).
    :param max_calls_per_second: start at most this many calls a second, retries included, evenly
        spaced (no burst); default None: no pacing. For batches that share one account's rate
        limit, give each the limit divided by how many run at once (the slots of their pool).
        Templated.
    :param max_failed_fraction: the share of items that may fail, from 0 to 1, before the task
        fails: 0 (the default) fails it on any failure, 1 only on a failure every item would share
        (a rejected token, missing credits, an inaccessible model): that is no item's fault.
    """

    # The prompts are listed as written (rendered per input, never by Jinja), and ``prompts_sent``
    # holds the first inputs' messages as sent: the UI's Rendered Template view shows both.
    template_fields: Sequence[str] = (
        "inputs",
        *SETTINGS_FIELDS,
        "output_path",
        "max_calls_per_second",
        *PROMPT_FIELDS,
        "prompts_sent",
    )
    template_fields_renderers = {
        "inputs": "json",
        "response_format": "json",
        "messages": "json",
        "prompts_sent": "json",
    }
    # The prompts are Handlebars templates of each input: Jinja would erase their {{item}}, and an
    # upstream task's messages must reach the request builder unresolved, as data.
    handlebars_fields = (*PROMPT_FIELDS, "prompts_sent")
    #: Seconds between two progress lines in the task log.
    progress_interval: float = 5.0

    def __init__(
        self,
        *,
        inputs: Any,
        output_path: Any = None,
        max_concurrency: int = 8,
        max_calls_per_second: float | str | None = None,
        max_failed_fraction: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_number("max_concurrency", max_concurrency, COUNT, optional=False)
        check_number("max_failed_fraction", max_failed_fraction, FRACTION, optional=False)
        self.inputs = inputs
        XComArg.apply_upstream_relationship(self, self.messages)  # not a Jinja field: set here
        self.output_path = output_path
        self.max_concurrency = max_concurrency
        self.max_calls_per_second = max_calls_per_second  # templated: checked at execute time
        self.max_failed_fraction = float(max_failed_fraction)
        self.prompts_sent: list[list[dict[str, Any]]] | None = None

    def after_jinja(self, context: Context) -> None:
        # The first inputs' prompts, built when the fields are rendered so that the stored rendered
        # fields show them: inputs in memory only (a file is read when the task runs, once per pass).
        # A mistake here is left for execute() to report, with its fix.
        import contextlib
        import itertools

        from airflow_provider_huggingface.batch.inputs import ListInputs, open_inputs
        from airflow_provider_huggingface.batch.requests import EXAMPLES

        with contextlib.suppress(Exception):
            inputs = open_inputs(self.inputs)
            if isinstance(inputs, ListInputs):
                build = self.request_builder(context, self.hook)
                for index, item in enumerate(itertools.islice(inputs, EXAMPLES)):
                    build(index, item)
                self.prompts_sent = build.examples

    @property
    def settings(self) -> BatchSettings:
        from airflow_provider_huggingface.batch.engine import BatchSettings

        return BatchSettings.checked(
            max_concurrency=self.max_concurrency,
            max_calls_per_second=self.max_calls_per_second,
            max_failed_fraction=self.max_failed_fraction,
            progress_interval=self.progress_interval,
        )

    def lineage_locations(self) -> tuple[list[Any], list[Any]]:
        return self.batch_locations(self.inputs, self.output_path)

    def reply_file(self, context: Context) -> ReplyFile | StateStoreReplies | None:
        """Where this task instance's replies are kept for its next try: a file under ``output_path``,
        else under the XCom object storage folder, else the task state store (Airflow 3.3+)."""
        from airflow_provider_huggingface.batch.state import StateStoreReplies
        from airflow_provider_huggingface.batch.store import ReplyFile, output_folder, task_instance_file

        folder = output_folder(self.output_path)
        if folder is not None:
            return ReplyFile(task_instance_file(folder, context["ti"]))
        store = context.get("task_state_store")
        if store is not None:
            return StateStoreReplies(store)
        self.log.info(
            "Replies go to XCom only: a retry of this task would send every item again. Give output_path "
            "(or use Airflow 3.3+, whose task state store keeps them) for a retry to reuse them."
        )
        return None

    def request_builder(self, context: Context, hook: HuggingFaceHook) -> RequestBuilder:
        from airflow_provider_huggingface.batch.requests import RequestBuilder

        return RequestBuilder(
            context=context,
            hook=hook,
            user_prompt=self.user_prompt,
            system_prompt=self.system_prompt,
            messages=self.messages,
            generation=self.chat_settings,
        )

    @keeps_model_link
    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_huggingface._internal.budget import Budget
        from airflow_provider_huggingface.batch.inputs import open_inputs
        from airflow_provider_huggingface.batch.runner import run_batch
        from airflow_provider_huggingface.observability.span_budget import SpanBudget

        settings = self.settings  # checked before anything is read or sent
        budget = Budget.checked(**self.budget_settings)
        hook = self.hook

        facts = self.begin_lineage()
        spans = SpanBudget(model=facts.model_requested, server=hook.settings.base_url)

        def session_of(
            first: ChatRequest, *, calls: int, usage: TokenUsage | None, **logs: Any
        ) -> ChatSession:
            return hook.chat_session(
                first,
                fallback_models=self.fallback_models,
                validate_model=self.validate_model,
                lineage=facts,
                spans=spans,
                budget=Budget(
                    max_calls=budget.max_calls,
                    max_total_tokens=budget.max_total_tokens,
                    calls=calls,
                    usage=usage,
                ),
                **logs,
            )

        build = self.request_builder(context, hook)
        with spans:
            summary = run_batch(
                hook=hook,
                inputs=open_inputs(self.inputs),
                build=build,
                replies=self.reply_file(context),
                settings=settings,
                session_of=session_of,
                log=self.log,
                push_partial=lambda summary: self._push_partial(context, summary),
            )
        self.publish_model(context, facts.models_used[-1] if facts.models_used else facts.model_requested)
        return summary

    def _push_partial(self, context: Context, summary: dict[str, Any]) -> None:
        context["ti"].xcom_push(key="partial_results", value=summary)
        self.log.info("Results so far pushed as XCom partial_results before failing.")
