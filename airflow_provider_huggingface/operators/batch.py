"""``HuggingFaceBatchChatOperator``: one chat completion per input, many at once, in one task."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_huggingface.batch.engine import BatchRun, run_to_end, summarize
from airflow_provider_huggingface.exceptions import ConfigurationError, PromptTemplateError
from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook
from airflow_provider_huggingface.operators.huggingface import ChatSettingsMixin

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from airflow.sdk import Context

    from airflow_provider_huggingface.hooks.huggingface import ChatRequest


class HuggingFaceBatchChatOperator(ChatSettingsMixin, BaseOperator):
    """Ask a Hugging Face chat model once per input, many calls at once, and push all the replies.

    ``user_prompt`` and ``system_prompt`` are Handlebars templates rendered once per input,
    with the input as ``{{item}}`` (``{{item.field}}`` for a dict) beside the names the chat
    operator offers: upstream return values by task id, ``params``, ``conf``, ``ds``, ``ts``,
    ``logical_date``, ``run_id``, ``dag_id`` and ``task_id``. Every prompt is rendered and
    checked before the first call, so a template or setting mistake fails the task without
    sending anything, naming the input's index.

    The calls share one connection pool. At most ``max_concurrency`` are in flight; fewer after
    the server answers 429 or 503: the limit halves, no new call goes before the server's
    Retry-After, and the limit grows back a slot at a time (see
    :mod:`airflow_provider_huggingface.batch.limiter`), so that a rate limit is met at the speed it
    allows rather than with a storm of retries. Each call retries under the connection's policy,
    each retry waiting for a slot like a new call. The task log shows progress every few seconds,
    not a line per call.

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
        fails: 0 (the default) fails it on any failure, 1 only on a failure every item would share
        (a rejected token, missing credits, an inaccessible model): that is no item's fault.
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

    @cached_property
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
        from airflow_provider_huggingface.prompts.renderer import referenced_roots, render_prompt
        from airflow_provider_huggingface.prompts.scope import prompt_scope

        generation = self.chat_settings
        # The same for every item: a mistake there is no one item's, so it is checked on its own.
        hook.prepare_chat(user_prompt="check", **generation)
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
                prompts: dict[str, Any] = dict(fixed)
                for field, template in fields.items():
                    if template and field not in fixed:
                        prompts[field] = render_prompt(template, item_scope, field=field)
                requests.append(hook.prepare_chat(**prompts, **generation))
            except (PromptTemplateError, ConfigurationError) as error:
                raise type(error)(f"inputs[{index}] ({_preview(item)}): {error}") from None
        return requests

    def execute(self, context: Context) -> dict[str, Any]:
        items = self.items()
        hook = self.hook
        requests = self.prepare_requests(context, items, hook)
        if not requests:
            self.log.info("Batch: no inputs, nothing to send.")
            return summarize([], [], 0)
        if self.validate_model:
            hook.validate_model(requests[0])  # one model for the whole batch: one check
        self.log.info(
            "Batch: %d calls to %s, at most %d at once.", len(items), requests[0].where, self.max_concurrency
        )
        batch = BatchRun(self, hook, requests)
        run_to_end(batch.run())
        summary = summarize(batch.results, batch.failures, batch.not_sent)
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
