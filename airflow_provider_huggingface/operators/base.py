"""The bases of the provider's operators: what every Hugging Face operator takes, and what every
chat operator takes on top, each parameter declared, documented and checked once.

Airflow records the parameters of every ``__init__`` in an operator's class hierarchy, so
``default_args``, ``partial()`` and ``expand()`` accept the parameters declared here on every
operator built on them.
"""

from __future__ import annotations

import functools
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar, cast

from airflow_provider_huggingface._internal.airflow_compat import BaseOperator
from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook
from airflow_provider_huggingface.links.huggingface import HuggingFaceModelLink
from airflow_provider_huggingface.observability.mixin import OpenLineageMixin

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from airflow.sdk import Context

    from airflow_provider_huggingface.observability.lineage import LineageFacts

_Execute = TypeVar("_Execute", bound="Callable[..., Any]")

PROMPT_FIELDS = ("user_prompt", "system_prompt", "messages")
# The Jinja fields every chat operator shares: the model, the connection and the generation settings.
SETTINGS_FIELDS = (
    "model",
    "hf_conn_id",
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "response_format",
    "fallback_models",
)


class HuggingFaceBaseOperator(OpenLineageMixin, BaseOperator):
    """What every Hugging Face operator takes: the connection, the model, and what to do when the
    model cannot answer; and what every one shows: a link to the model that answered (or the
    endpoint) on the task's page, and, with Airflow's OpenLineage provider installed, lineage (the
    files read and written, the model as a dataset, a run facet with the model that answered, the
    provider that served, the prompt templates' hash, tokens and calls; never a prompt or a reply).

    :param model: a model id (``owner/name``); default: the connection's ``default_model``, else the
        provider's default. On an endpoint connection, any name the server accepts.
    :param hf_conn_id: the ``huggingface`` connection.
    :param fallback_models: models to ask in turn when ``model`` itself cannot answer (not found or
        not served by the provider, gone, still loading after the retries); a bad token, a 402, a 403
        or a bad request never moves to another model. The XCom's ``model`` says which one answered.
    :param validate_model: on the router, ask the Hub first whether the model exists, is accessible
        and can serve the task (cached per process); ``False`` skips that check.
    :param lineage_prompt_text: put the prompt templates' text (as written in the DAG file, never
        rendered with data) in the OpenLineage run facet; by default only their hash is there.
    """

    ui_color = "#ffd21e"
    operator_extra_links = (HuggingFaceModelLink(),)
    #: What the OpenLineage run facet calls this operator's calls.
    lineage_operation = "chat"

    def __init__(
        self,
        *,
        model: str | None = None,
        hf_conn_id: str = HuggingFaceHook.default_conn_name,
        fallback_models: list[str] | None = None,
        validate_model: bool = True,
        lineage_prompt_text: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.hf_conn_id = hf_conn_id
        self.fallback_models = fallback_models
        self.validate_model = validate_model
        self.lineage_prompt_text = lineage_prompt_text

    @cached_property
    def hook(self) -> HuggingFaceHook:
        return HuggingFaceHook(hf_conn_id=self.hf_conn_id)

    # --- what the task shows of its calls: lineage and the model link

    def lineage_templates(self) -> dict[str, Any]:
        """The prompt templates as written in the DAG file (their hash is the prompt version)."""
        return {}

    def lineage_locations(self) -> tuple[list[Any], list[Any]]:
        """The files this task reads and writes, as rendered."""
        return [], []

    @staticmethod
    def batch_locations(inputs: Any, output_path: Any) -> tuple[list[Any], list[Any]]:
        """What a batch reads and writes: its ``inputs`` when they name a file, its ``output_path``."""
        import os

        from airflow.sdk import ObjectStoragePath

        is_file = isinstance(inputs, ObjectStoragePath | os.PathLike) or (
            isinstance(inputs, str) and "://" in inputs
        )
        outputs = [] if output_path in (None, "") else [output_path]
        return ([inputs] if is_file else []), outputs

    def begin_lineage(self) -> LineageFacts:
        """The task's lineage facts, with what is known before any call (rendered fields, connection)."""
        facts = self.lineage_facts
        self.__dict__["_lineage_begun"] = True
        facts.operation = self.lineage_operation
        facts.model_requested = self.model if isinstance(self.model, str) else None
        facts.inputs, facts.outputs = self.lineage_locations()
        templates = self.lineage_templates()
        if templates:
            facts.set_prompts(templates, include_text=self.lineage_prompt_text)
        try:
            settings = self.hook.settings
        except Exception:  # a bad connection is reported by execute(); lineage says what it can
            return facts
        facts.endpoint = settings.base_url
        facts.inference_provider = None if settings.base_url else settings.provider
        facts.model_requested = settings.resolve_model(facts.model_requested)
        return facts

    def lineage_facts_at_start(self) -> LineageFacts:
        return self.begin_lineage()

    def lineage_facts_at_end(self) -> LineageFacts:
        # A task that failed before its first call (a bad prompt, a missing file) still names its
        # model, files and prompt version.
        return self.lineage_facts if self.__dict__.get("_lineage_begun") else self.begin_lineage()

    def publish_model(self, context: Context, model: str | None) -> None:
        """Keep what the model link shows: the model that answered, or the endpoint. A link is never
        worth failing a task for: a failure to keep it is logged."""
        self.__dict__["_link_published"] = True
        failure = None
        try:
            HuggingFaceModelLink.persist(context, model=model, endpoint=self.hook.settings.base_url)
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
        if failure is not None:  # logged outside the except block, as every line of ours
            self.log.warning("The model link could not be kept: %s", failure)


def keeps_model_link(method: _Execute) -> _Execute:
    """For an operator's ``execute``/``execute_complete``: when it ends without a reply (it defers, or
    fails), the link names the model asked for (or the last that answered). Airflow reads every link
    whenever a task stops, a deferral included, and logs an error for a link with nothing stored."""

    @functools.wraps(method)
    def run(self: HuggingFaceBaseOperator, context: Context, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, context, *args, **kwargs)
        except BaseException:
            if not self.__dict__.get("_link_published"):
                facts = self.lineage_facts_at_end()
                self.publish_model(
                    context, facts.models_used[-1] if facts.models_used else facts.model_requested
                )
            raise

    return cast("_Execute", run)


class HuggingFaceChatBaseOperator(HuggingFaceBaseOperator):
    """What every chat operator takes on top: the prompts, the generation settings and the budget.

    ``user_prompt``, ``system_prompt`` and each ``content`` of ``messages`` are Handlebars templates,
    not Jinja (how and over what each operator renders them, its own docstring says); the other
    arguments are Jinja fields. Only text written in the DAG file is a template: a value resolved at
    run time (an upstream task's output, a value mapped from one) is data, sent as it is.

    :param user_prompt: the user message (Handlebars template).
    :param system_prompt: an optional system message that sets the model's behaviour (Handlebars).
    :param messages: a conversation sent after ``system_prompt`` and before ``user_prompt``: a list of
        ``{"role": "system" | "user" | "assistant", "content": template}``, for few-shot examples or
        earlier turns. A list that comes from an upstream task is data and is sent as it is.
    :param max_tokens: the most tokens to generate per reply.
    :param temperature: sampling temperature, 0 to 2.
    :param top_p: nucleus sampling, above 0 and at most 1.
    :param stop: a string or list of strings that end the generation.
    :param seed: a seed for reproducible sampling, where the server supports it.
    :param response_format: ``{"type": "json_object"}`` or ``{"type": "json_schema", "json_schema":
        {...}}``; the result then also holds ``"json"``, the parsed reply. A reply that does not fit
        is asked for once more, saying what was wrong.
    :param max_calls: the most requests the task may make that the server can bill, structured-output
        re-asks included; a request the server refused unbilled (429, 503) does not count.
    :param max_total_tokens: the most tokens (prompt and completion) the task's replies may use
        together. Never sent to the server (``max_tokens`` is what bounds one reply): no request
        starts once it is reached, and a re-ask is made only when what is left also covers resending
        the first prompt and reply.
    """

    def __init__(
        self,
        *,
        user_prompt: str | None = None,
        system_prompt: str | None = None,
        messages: list[dict[str, str]] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        response_format: dict[str, Any] | None = None,
        max_calls: int | None = None,
        max_total_tokens: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.user_prompt = user_prompt
        self.system_prompt = system_prompt
        self.messages = messages
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.stop = stop
        self.seed = seed
        self.response_format = response_format
        self.max_calls = max_calls
        self.max_total_tokens = max_total_tokens

    #: Fields rendered with Handlebars (or kept as written), never with Jinja.
    handlebars_fields: tuple[str, ...] = PROMPT_FIELDS

    def _do_render_template_fields(
        self,
        parent: Any,
        template_fields: Iterable[str],
        context: Context,
        jinja_env: Any,
        seen_oids: set[int],
    ) -> None:
        # The one place both an operator and an unmapped instance of a mapped one render their
        # fields: Jinja for the settings, then (after_jinja) what the operator does with its prompts.
        if parent is not self:
            super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)
            return
        jinja_fields = [name for name in template_fields if name not in self.handlebars_fields]
        super()._do_render_template_fields(parent, jinja_fields, context, jinja_env, seen_oids)
        self.after_jinja(context)

    def after_jinja(self, context: Context) -> None:
        """Called once the Jinja fields are rendered: the chat operator renders its prompts here."""

    @property
    def chat_settings(self) -> dict[str, Any]:
        """The model and generation settings as the hook takes them (rendered by now: a Jinja string
        such as ``"5"`` is taken as the number it says; the hook checks each)."""
        from airflow_provider_huggingface._internal.validation import Rule, from_template

        whole, number = Rule(whole=True), Rule()
        return {
            "model": self.model,
            "max_tokens": from_template(self.max_tokens, whole),
            "temperature": from_template(self.temperature, number),
            "top_p": from_template(self.top_p, number),
            "stop": self.stop,
            "seed": from_template(self.seed, whole),
            "response_format": self.response_format,
        }

    def lineage_templates(self) -> dict[str, Any]:
        written = self.__dict__.get("_templates_as_written")
        if written is not None:
            return written
        return {
            field: getattr(self, field)
            for field in PROMPT_FIELDS
            if isinstance(getattr(self, field), str | list)
        }

    @property
    def budget_settings(self) -> dict[str, Any]:
        """``max_calls`` and ``max_total_tokens`` as rendered, for the hook's session to check."""
        return {"max_calls": self.max_calls, "max_total_tokens": self.max_total_tokens}


def template_fields_of(*fields: Sequence[str]) -> tuple[str, ...]:
    """Template field names, each once, in order."""
    return tuple(dict.fromkeys(name for group in fields for name in group))
