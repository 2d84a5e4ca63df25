"""``HuggingFaceChatOperator``: one chat completion, its prompts rendered from upstream XComs."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow.sdk import XComArg

from airflow_provider_huggingface._internal.airflow_compat import conf
from airflow_provider_huggingface.operators.base import (
    PROMPT_FIELDS,
    SETTINGS_FIELDS,
    HuggingFaceChatBaseOperator,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from airflow_provider_huggingface._internal.airflow_compat import BaseOperator
    from airflow_provider_huggingface._internal.chat import ChatRequest, ChatResult
    from airflow_provider_huggingface._internal.chat_flow import ChatSession


class HuggingFaceChatOperator(HuggingFaceChatBaseOperator):
    """Ask a Hugging Face chat model and push ``{"text", "model", "finish_reason", "usage"}`` to XCom.

    ``user_prompt``, ``system_prompt`` and each ``content`` of ``messages`` are Handlebars templates,
    not Jinja: ``{{summarize.text}}`` is the ``text`` of task ``summarize``'s return value; ``params``,
    ``conf``, ``ds``, ``ts``, ``logical_date``, ``run_id``, ``dag_id`` and ``task_id`` are in scope
    too. A path that resolves to nothing fails the task before any call. The other arguments are
    Jinja fields. Only text written in the DAG file is a template: a prompt resolved at run time (an
    upstream task's output, a value mapped from one) is data, sent as it is. The prompts as sent are
    stored as the task's rendered template fields.

    It takes every parameter of
    :class:`~airflow_provider_huggingface.operators.base.HuggingFaceChatBaseOperator` (the prompts,
    ``messages``, the generation settings, ``max_calls`` and ``max_total_tokens``) and of
    :class:`~airflow_provider_huggingface.operators.base.HuggingFaceBaseOperator` (``model``,
    ``hf_conn_id``, ``fallback_models``, ``validate_model``); ``user_prompt`` is required unless
    ``messages`` ends with a user message. And:

    :param images: images for a vision-language model, attached to the last user turn: an https URL,
        a local path, an ``ObjectStoragePath`` (or a URL it reads, such as ``s3://...``), bytes, or a
        list of them. All but https URLs are sent inline as ``data:`` URLs. Airflow's XCom cannot
        carry bytes: an upstream task returns a ``data:`` URL, a path or an ``ObjectStoragePath``.
    :param max_image_bytes: the largest image accepted, in bytes (default 20 MB).
    :param stream: stream the reply into the task log line by line; the XCom is the same. Not
        available when deferred: the reply then reaches the log whole, and a warning says so.
    :param deferrable: render and check the request in the worker, then free the worker slot and wait
        for the reply in the triggerer (a loading model's or a rate limit's wait included); the XCom
        and the errors are the same. Default: the ``[operators] default_deferrable`` setting.
    """

    # The prompts are listed so that the stored rendered fields (the UI's Rendered Template view,
    # `airflow tasks render`) show the prompts as sent; they are rendered with Handlebars, never
    # Jinja (see _do_render_template_fields).
    template_fields: Sequence[str] = (*PROMPT_FIELDS, *SETTINGS_FIELDS)
    template_fields_renderers = {"messages": "json", "response_format": "json"}
    # False where the user prompt is already final text (the TaskFlow decorator builds it in Python).
    user_prompt_is_template: ClassVar[bool] = True
    #: How a JSON reply is read (see ChatRequest.reader): a branch reads a choice.
    reply_reader: ClassVar[str] = "json"

    def __init__(
        self,
        *,
        images: Any = None,
        max_image_bytes: int | None = None,
        stream: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Not a Jinja field: its rendered value would be stored with the task (data URLs, bytes).
        self.images = images
        XComArg.apply_upstream_relationship(self, images)
        self.max_image_bytes = max_image_bytes
        self.stream = stream
        self.deferrable = deferrable
        self._prompts_rendered = False

    def after_jinja(self, context: Context) -> None:
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
        from airflow_provider_huggingface.prompts.messages import (
            check_messages,
            render_messages,
            resolve_contents,
        )
        from airflow_provider_huggingface.prompts.renderer import render_prompt
        from airflow_provider_huggingface.prompts.scope import prompt_scope

        runtime = _mapped_at_run_time(self, getattr(context["ti"], "map_index", None))
        # The templates as written, before rendering: their hash is the prompt version lineage reports.
        self.__dict__["_templates_as_written"] = {
            field: value
            for field in PROMPT_FIELDS
            if isinstance(value := getattr(self, field), str | list)
            and field not in runtime
            and (field != "user_prompt" or self.user_prompt_is_template)
        }
        scope = None
        for field in PROMPT_FIELDS:
            value = getattr(self, field)
            if not isinstance(value, str) and callable(getattr(value, "resolve", None)):
                setattr(self, field, value.resolve(context))  # an XComArg or a group's argument: data
            elif field == "messages":
                if value is not None and field not in runtime:
                    value, data = resolve_contents(value, context)  # an upstream output as a turn: data
                    scope = scope if scope is not None else prompt_scope(context, log=self.log)
                    self.messages = render_messages(check_messages(value), scope, data=data)
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
        hook = self.hook
        request = hook.prepare_chat(
            **self.chat_prompt(context), **self.chat_settings, reader=self.reply_reader
        )
        session = hook.chat_session(
            request,
            fallback_models=self.fallback_models,
            validate_model=self.validate_model,
            lineage=self.begin_lineage(),
            **self.budget_settings,
        )
        if self.deferrable:
            self.defer_chat(request, session)
        result = hook.chat(request, stream=self.stream, session=session)
        self.publish_model(context, result["model"])
        return result

    def defer_chat(self, request: ChatRequest, session: ChatSession) -> NoReturn:
        """Check the model here, as the synchronous path does, then hand the request to the triggerer."""
        from airflow_provider_huggingface.triggers.huggingface import HuggingFaceChatTrigger

        if self.stream:
            # Not an error: a cluster-wide default_deferrable must not break DAGs that stream, and
            # streaming changes only the log, never the XCom.
            self.log.warning("stream=True is ignored while deferred: the reply is logged when complete.")
        # A model the Hub says cannot chat moves to the next one here, as on the synchronous path.
        request = self.hook.resolve_request(request, session)
        self.log.info("Deferring chat to the triggerer: %s", request)
        self.defer(
            trigger=HuggingFaceChatTrigger.for_request(self.hf_conn_id, request, session),
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

        facts = self.begin_lineage()  # a fresh operator: what the triggerer did is in the event
        if event.get("status") == "success":
            result = event["result"]
            usage = result.get("usage")
            facts.record_call(
                model=result.get("model"),
                provider=result.get("provider"),
                input_tokens=usage["prompt_tokens"] if usage else None,
                output_tokens=usage["completion_tokens"] if usage else None,
            )
            self.publish_model(context, result.get("model"))
            return result
        facts.record_call(failed=True)
        raise error_from_event(event)


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
