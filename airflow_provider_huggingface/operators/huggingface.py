"""``HuggingFaceChatOperator``: one chat completion, its prompts rendered from upstream XComs."""

from __future__ import annotations

import contextlib
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow.sdk import XComArg

from airflow_provider_huggingface._internal.airflow_compat import BaseOperator, conf
from airflow_provider_huggingface._internal.images import MAX_IMAGE_BYTES
from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from airflow.sdk import Context

    from airflow_provider_huggingface._internal.chat import ChatRequest, ChatResult


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


class ChatSettingsMixin:
    """The model and generation settings of a chat operator, as the hook takes them."""

    model: str | None
    max_tokens: int | None
    temperature: float | None
    top_p: float | None
    stop: str | list[str] | None
    seed: int | None
    response_format: dict[str, Any] | None

    @property
    def chat_settings(self) -> dict[str, Any]:
        """The model and generation settings, as the hook takes them (rendered by now)."""
        return {
            "model": self.model,
            "max_tokens": _number(self.max_tokens, int),
            "temperature": _number(self.temperature, float),
            "top_p": _number(self.top_p, float),
            "stop": self.stop,
            "seed": _number(self.seed, int),
            "response_format": self.response_format,
        }


class HuggingFaceChatOperator(ChatSettingsMixin, BaseOperator):
    """Ask a Hugging Face chat model and push ``{"text", "model", "finish_reason", "usage"}`` to XCom.

    ``user_prompt``, ``system_prompt`` and each ``content`` of ``messages`` are Handlebars templates,
    not Jinja: ``{{summarize.text}}`` is the ``text`` of task ``summarize``'s return value; ``params``,
    ``conf``, ``ds``, ``ts``, ``logical_date``, ``run_id``, ``dag_id`` and ``task_id`` are in scope
    too. A path that resolves to nothing fails the task before any call. The other arguments are
    Jinja fields. Only text written in the DAG file is a template: a prompt resolved at run time (an
    upstream task's output, a value mapped from one) is data, sent as it is. The prompts as sent are
    stored as the task's rendered template fields.

    :param user_prompt: the user message (Handlebars template). Required unless ``messages`` ends
        with a user message.
    :param system_prompt: an optional system message that sets the model's behaviour (Handlebars).
    :param messages: a conversation sent after ``system_prompt`` and before ``user_prompt``: a list of
        ``{"role": "system" | "user" | "assistant", "content": template}``, for few-shot examples or
        earlier turns. Written in the DAG file, each content is a Handlebars template; a list that
        comes from an upstream task is data and is sent as it is.
    :param images: images for a vision-language model, attached to the last user turn: an https URL,
        a local path, an ``ObjectStoragePath`` (or a URL it reads, such as ``s3://...``), bytes, or a
        list of them. All but https URLs are sent inline as ``data:`` URLs. Airflow's XCom cannot
        carry bytes: an upstream task returns a ``data:`` URL, a path or an ``ObjectStoragePath``.
    :param max_image_bytes: the largest image accepted, in bytes (default 20 MB).
    :param model: a model id (``owner/name``); default: the connection's ``default_model``, else
        ``mistralai/Mistral-7B-Instruct-v0.3``. On an endpoint connection, any name the server accepts.
    :param hf_conn_id: the ``huggingface`` connection.
    :param max_tokens: the most tokens to generate.
    :param temperature: sampling temperature, 0 to 2.
    :param top_p: nucleus sampling, above 0 and at most 1.
    :param stop: a string or list of strings that end the generation.
    :param seed: a seed for reproducible sampling, where the server supports it.
    :param response_format: ``{"type": "json_object"}`` or ``{"type": "json_schema", "json_schema": {...}}``.
    :param fallback_models: models to ask in turn when ``model`` itself cannot answer (not found or
        not served by the provider, gone, still loading after the retries); a bad token, a 402, a 403
        or a bad request never moves to another model. The XCom's ``model`` says which one answered.
    :param max_total_tokens: the most tokens (prompt and completion) the call may use: its
        ``max_tokens`` is at most this, and a structured-output re-ask is made only with what the first
        call left (its prompt resends the first prompt and reply), else the task fails saying so.
    :param stream: stream the reply into the task log line by line; the XCom is the same. Not
        available when deferred: the reply then reaches the log whole, and a warning says so.
    :param validate_model: on the router, ask the Hub first whether the model exists, is accessible and
        can chat (cached per process); ``False`` skips that check.
    :param deferrable: render and check the request in the worker, then free the worker slot and wait
        for the reply in the triggerer (a loading model's or a rate limit's wait included); the XCom
        and the errors are the same. Default: the ``[operators] default_deferrable`` setting.
    """

    # The prompts are listed so that the stored rendered fields (the UI's Rendered Template view,
    # `airflow tasks render`) show the prompts as sent; they are rendered with Handlebars, never
    # Jinja (see _do_render_template_fields).
    template_fields: Sequence[str] = (*PROMPT_FIELDS, *SETTINGS_FIELDS)
    template_fields_renderers = {"messages": "json", "response_format": "json"}
    ui_color = "#ffd21e"
    # False where the user prompt is already final text (the TaskFlow decorator builds it in Python).
    user_prompt_is_template: ClassVar[bool] = True

    def __init__(
        self,
        *,
        user_prompt: str | None = None,
        system_prompt: str | None = None,
        messages: list[dict[str, str]] | None = None,
        images: Any = None,
        max_image_bytes: int = MAX_IMAGE_BYTES,
        model: str | None = None,
        hf_conn_id: str = HuggingFaceHook.default_conn_name,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        response_format: dict[str, Any] | None = None,
        fallback_models: list[str] | None = None,
        max_total_tokens: int | None = None,
        stream: bool = False,
        validate_model: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.user_prompt = user_prompt
        self.system_prompt = system_prompt
        self.messages = messages
        # Not a Jinja field: its rendered value would be stored with the task (data URLs, bytes).
        self.images = images
        XComArg.apply_upstream_relationship(self, images)
        self.max_image_bytes = max_image_bytes
        self.model = model
        self.hf_conn_id = hf_conn_id
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.stop = stop
        self.seed = seed
        self.response_format = response_format
        self.fallback_models = fallback_models
        self.max_total_tokens = max_total_tokens
        self.stream = stream
        self.validate_model = validate_model
        self.deferrable = deferrable
        self._prompts_rendered = False

    @cached_property
    def hook(self) -> HuggingFaceHook:
        return HuggingFaceHook(hf_conn_id=self.hf_conn_id)

    def _do_render_template_fields(
        self,
        parent: Any,
        template_fields: Iterable[str],
        context: Context,
        jinja_env: Any,
        seen_oids: set[int],
    ) -> None:
        # The one place both an operator and an unmapped instance of a mapped one render their
        # fields: Jinja for the settings, then Handlebars for the prompts, at the same moment.
        if parent is not self:
            super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)
            return
        jinja_fields = [name for name in template_fields if name not in PROMPT_FIELDS]
        super()._do_render_template_fields(parent, jinja_fields, context, jinja_env, seen_oids)
        # Reading the connection registers its token with Airflow's secrets masker before the
        # rendered prompts are stored, so that a token pasted into a prompt is masked there too.
        # A bad connection is reported by execute(), with the other request checks.
        with contextlib.suppress(Exception):
            self.hook.settings  # noqa: B018
        self.render_prompts(context)

    def render_prompts(self, context: Context) -> None:
        """Render the prompts and ``messages`` in place, once, with every ``{{path}}`` filled in.

        Only text written in the DAG file is a template. A prompt that Airflow resolves at run time
        (an upstream task's output, an argument of a mapped task group, a value mapped with
        ``.expand()``/``.expand_kwargs()`` from an upstream task) is data: it is sent as it is.
        """
        if self._prompts_rendered:
            return
        from airflow_provider_huggingface.prompts.messages import check_messages, render_messages
        from airflow_provider_huggingface.prompts.renderer import render_prompt
        from airflow_provider_huggingface.prompts.scope import prompt_scope

        runtime = _mapped_at_run_time(self, getattr(context["ti"], "map_index", None))
        scope = None
        for field in PROMPT_FIELDS:
            value = getattr(self, field)
            if not isinstance(value, str) and callable(getattr(value, "resolve", None)):
                setattr(self, field, value.resolve(context))  # an XComArg or a group's argument: data
            elif field == "messages":
                if value is not None and field not in runtime:
                    scope = scope if scope is not None else prompt_scope(context, log=self.log)
                    self.messages = render_messages(check_messages(value), scope)
            elif (
                isinstance(value, str)
                and value
                and field not in runtime
                and (field != "user_prompt" or self.user_prompt_is_template)
            ):
                scope = scope if scope is not None else prompt_scope(context, log=self.log)
                setattr(self, field, render_prompt(value, scope, field=field))
        self._prompts_rendered = True

    def chat_prompt(self, context: Context) -> dict[str, Any]:
        """What the hook builds the conversation from: the rendered prompts and messages, the images."""
        self.render_prompts(context)  # done already when Airflow rendered the template fields
        return {
            "user_prompt": self.user_prompt,
            "system_prompt": self.system_prompt,
            "messages": self.messages,
            "images": self.render_template(self.images, context),  # XComArgs resolve to data
            "max_image_bytes": self.max_image_bytes,
        }

    def execute(self, context: Context) -> ChatResult:
        prompt = self.chat_prompt(context)
        if self.deferrable:
            self.defer_chat(prompt)
        return self.hook.chat(
            **prompt,
            stream=self.stream,
            validate_model=self.validate_model,
            fallback_models=self.fallback_models,
            max_total_tokens=self.max_total_tokens,
            **self.chat_settings,
        )

    def defer_chat(self, prompt: dict[str, Any]) -> NoReturn:
        """Check the request here, as the synchronous path does, then hand it to the triggerer."""
        from airflow_provider_huggingface.triggers.huggingface import HuggingFaceChatTrigger

        if self.stream:
            # Not an error: a cluster-wide default_deferrable must not break DAGs that stream, and
            # streaming changes only the log, never the XCom.
            self.log.warning("stream=True is ignored while deferred: the reply is logged when complete.")
        hook = self.hook
        request = hook.prepare_chat(**prompt, max_total_tokens=self.max_total_tokens, **self.chat_settings)
        fallback = hook.model_fallback(request, self.fallback_models)
        if self.validate_model:
            # A model the Hub says cannot chat moves to the next one here, as on the synchronous path.
            request = fallback.run(request, _validated(hook))
        self.log.info("Deferring chat to the triggerer: %s", request)
        self.defer(
            trigger=HuggingFaceChatTrigger(
                hf_conn_id=self.hf_conn_id,
                model=request.model,
                messages=request.messages,
                generation=request.generation,
                fallback_models=[m for m in fallback.candidates(request.model)[1:] if m is not None],
                max_total_tokens=request.max_total_tokens,
            ),
            method_name="execute_complete",
            kwargs=self.resume_kwargs(),
            # The sync path is bounded by execution_timeout; a deferred call would otherwise not be.
            timeout=self.execution_timeout,
        )

    def resume_kwargs(self) -> dict[str, Any] | None:
        """What :meth:`execute_complete` receives beside the trigger's event (the deferral's
        ``next_kwargs``, stored in the metadata DB): nothing here, the prompts are rendered again."""
        return None

    def execute_complete(self, context: Context, event: dict[str, Any]) -> ChatResult:
        """Resume after the trigger: return its result, or raise the error it carried."""
        from airflow_provider_huggingface.triggers.huggingface import error_from_event

        if event.get("status") == "success":
            return event["result"]
        raise error_from_event(event)


def _validated(hook: HuggingFaceHook) -> Callable[[ChatRequest], ChatRequest]:
    """The request back once the Hub said its model can chat (a fallback's step in the worker)."""

    def check(request: ChatRequest) -> ChatRequest:
        hook.validate_model(request)
        return request

    return check


def _mapped_at_run_time(task: BaseOperator, map_index: int | None) -> set[str]:
    """The prompt fields of a mapped task's instance whose value was resolved at run time.

    A list written out in ``.expand()`` or ``.expand_kwargs()`` in the DAG file is text of the
    DAG file, a template, as Airflow itself renders it with Jinja; an upstream task's output is data.
    """
    mapped = task.dag.task_dict.get(task.task_id) if task.has_dag() else None
    expand_input = getattr(mapped, "expand_input", None) if getattr(mapped, "is_mapped", False) else None
    value = getattr(expand_input, "value", None)
    if isinstance(value, dict):  # .expand(field=...)
        return {field for field in PROMPT_FIELDS if _resolved_at_run_time(value.get(field))}
    if isinstance(value, (list, tuple)):  # .expand_kwargs([...]) written out
        kwargs = value[map_index] if map_index is not None and 0 <= map_index < len(value) else None
        if isinstance(kwargs, dict):
            return {field for field in PROMPT_FIELDS if _resolved_at_run_time(kwargs.get(field))}
        return set(PROMPT_FIELDS)
    return set(PROMPT_FIELDS) if value is not None else set()  # .expand_kwargs(upstream.output)


def _resolved_at_run_time(value: Any) -> bool:
    return not isinstance(value, str) and callable(getattr(value, "resolve", None))


def _number(value: Any, kind: type[int] | type[float]) -> Any:
    """A Jinja field renders "{{ params.max_tokens }}" as the string "5": take it as the number.

    Anything that is not a number is left as it is, for the hook's check to name.
    """
    if not isinstance(value, str):
        return value
    try:
        return kind(value.strip())
    except ValueError:
        return value
