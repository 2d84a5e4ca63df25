"""``@task.huggingface_chat``: a Python function builds the user prompt, a chat model answers it.

    @task.huggingface_chat(hf_conn_id="huggingface_default", system_prompt="Answer in French.")
    def describe(city: dict) -> str:
        return f"Describe {city['name']} in one sentence."

    describe(fetch_city())  # XCom: {"text", "model", "finish_reason", "usage"}

The function's arguments may be XComArgs (resolved before it runs) and context keys; it
returns the user prompt as a non-empty string. That string is sent as it is: it is NOT rendered
as a Handlebars template, because it was built in Python already, so ``{{`` or ``}}`` inside
the data it holds reach the model unchanged. ``system_prompt`` stays a Handlebars template, as
on :class:`HuggingFaceChatOperator`. Every other argument of the decorator is an argument of
that operator.

``@task.huggingface_branch`` does the same for :class:`HuggingFaceBranchOperator`: the model
reads the prompt the function returns and chooses which downstream tasks run; and
``@task.huggingface_agent`` for :class:`HuggingFaceAgentOperator`: the model calls tools until it
can answer it.

    @task.huggingface_branch(hf_conn_id="huggingface_default")
    def route(ticket: dict) -> str:
        return f"Which team handles this ticket? {ticket['text']}"

    route(fetch_ticket()) >> [billing, bug, other]
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface._internal.airflow_compat import (
    SET_DURING_EXECUTION,
    DecoratedOperator,
    conf,
    context_merge,
    determine_kwargs,
    task_decorator_factory,
)
from airflow_provider_huggingface.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Mapping

    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.bases.decorator import TaskDecorator

    from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook

__all__ = ["huggingface_agent_task", "huggingface_branch_task", "huggingface_chat_task"]


class _PromptFunctionOperator(DecoratedOperator):
    """Calls the decorated function for the user prompt, then runs the operator it is combined with.

    :param python_callable: the function that returns the user prompt.
    :param op_args: positional arguments of the function (templated).
    :param op_kwargs: keyword arguments of the function (templated).
    """

    user_prompt_is_template = False  # the function built it in Python: `{{` in its data stays as is
    overwrite_rtif_after_execution = True
    custom_operator_name: str
    # The operator this is combined with provides these.
    user_prompt: str | None
    hook: HuggingFaceHook

    def __init__(
        self,
        *,
        python_callable: Callable,
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if "user_prompt" in kwargs:
            raise TypeError(
                f"{self.custom_operator_name} takes no user_prompt: the decorated function returns it."
            )
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            user_prompt=SET_DURING_EXECUTION,
            **kwargs,
        )

    def execute(self, context: Context) -> Any:
        context_merge(context, self.op_kwargs)
        kwargs = determine_kwargs(self.python_callable, self.op_args, context)
        prompt = self.python_callable(*self.op_args, **kwargs)
        if not isinstance(prompt, str) or not prompt.strip():
            got = f"{type(prompt).__name__} {prompt!r}"[:200]
            raise ConfigurationError(
                f"The function {self.python_callable.__name__}() decorated with {self.custom_operator_name} "
                f"must return the user prompt as a non-empty string; it returned {got}."
            )
        self.user_prompt = prompt
        return super().execute(context)

    def resume_kwargs(self) -> dict[str, Any]:
        # The function does not run again when a deferred task resumes, and Airflow stores the
        # rendered fields again after execute_complete: the prompt as sent (a branch's options
        # included) travels with the deferral, masked, and no longer than Airflow would store it.
        return {"sent_user_prompt": stored_prompt(self.user_prompt, secrets=(self.hook.settings.token,))}

    def execute_complete(
        self, context: Context, event: dict[str, Any], sent_user_prompt: str | None = None, **resume: Any
    ) -> Any:
        if isinstance(sent_user_prompt, str):
            self.user_prompt = sent_user_prompt
        return super().execute_complete(context, event, **resume)  # type: ignore[misc]  # the operator's


def stored_prompt(prompt: Any, *, secrets: Iterable[str | None]) -> Any:
    """``prompt`` as the rendered field may hold it: secrets masked, and cut one character past
    ``[core] max_templated_field_length``, so that Airflow still truncates it as it would the whole.

    :param prompt: the user prompt as sent.
    :param secrets: the connection's token, masked even where Airflow's masker does not know it.
    """
    if not isinstance(prompt, str):
        return prompt
    from airflow_provider_huggingface._internal.airflow_compat import redact as airflow_redact
    from airflow_provider_huggingface._internal.error_mapping import redact

    masked = redact(str(airflow_redact(prompt, "user_prompt")), secrets)
    limit = conf.getint("core", "max_templated_field_length", fallback=4096)
    return masked[: limit + 1]


def _with_prompt_function(operator: type[BaseOperator], decorator: str) -> type:
    """``operator`` whose user prompt the decorated function returns, as ``@task.<decorator>`` makes it.

    The prompt is known only after the function ran: the rendered fields are stored again then
    (``overwrite_rtif_after_execution``), so that the UI's Rendered Template tab shows it as sent.
    """
    return type(
        f"_{operator.__name__}Decorated",
        (_PromptFunctionOperator, operator),
        {
            "__doc__": f":class:`{operator.__name__}` whose user prompt the decorated function returns.",
            "__module__": __name__,
            "template_fields": (*DecoratedOperator.template_fields, *operator.template_fields),
            "template_fields_renderers": {
                **DecoratedOperator.template_fields_renderers,
                **operator.template_fields_renderers,
            },
            "custom_operator_name": f"@task.{decorator}",
        },
    )


# Each decorator's operator, imported when the decorator is first used: a DAG file that uses
# @task.huggingface_chat pays for the chat operator only, not the branch's or the agent's.
_OPERATORS = {
    "huggingface_chat": ("airflow_provider_huggingface.operators.huggingface", "HuggingFaceChatOperator"),
    "huggingface_branch": ("airflow_provider_huggingface.operators.branch", "HuggingFaceBranchOperator"),
    "huggingface_agent": ("airflow_provider_huggingface.operators.agent", "HuggingFaceAgentOperator"),
}


@functools.cache
def decorated_operator(decorator: str) -> type:
    """The operator class ``@task.<decorator>`` makes, built once.

    :param decorator: the decorator's name, e.g. ``"huggingface_chat"``.
    """
    module, name = _OPERATORS[decorator]
    return _with_prompt_function(getattr(importlib.import_module(module), name), decorator)


def __getattr__(name: str) -> type:
    # The classes are named as type() names them (``_HuggingFaceChatOperatorDecorated``), so that a
    # class's module and name still find it here.
    for decorator, (_, operator) in _OPERATORS.items():
        if name == f"_{operator}Decorated":
            return decorated_operator(decorator)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _decorator(decorator: str, python_callable: Callable | None, kwargs: dict[str, Any]) -> TaskDecorator:
    return task_decorator_factory(
        python_callable=python_callable, decorated_operator_class=decorated_operator(decorator), **kwargs
    )


def huggingface_chat_task(python_callable: Callable | None = None, **kwargs: Any) -> TaskDecorator:
    """Wrap a function that returns a user prompt into a :class:`HuggingFaceChatOperator`.

    The decorator's keyword arguments are the operator's and BaseOperator's; ``user_prompt`` is what
    the function returns.

    :param python_callable: the function to decorate.
    """
    return _decorator("huggingface_chat", python_callable, kwargs)


def huggingface_branch_task(python_callable: Callable | None = None, **kwargs: Any) -> TaskDecorator:
    """Wrap a function that returns a user prompt into a :class:`HuggingFaceBranchOperator`: the model
    chooses which downstream tasks run. Its keyword arguments are the operator's and BaseOperator's.

    :param python_callable: the function to decorate.
    """
    return _decorator("huggingface_branch", python_callable, kwargs)


def huggingface_agent_task(python_callable: Callable | None = None, **kwargs: Any) -> TaskDecorator:
    """Wrap a function that returns a user prompt into a :class:`HuggingFaceAgentOperator`: the model
    calls ``tools`` until it can answer. Its keyword arguments are the operator's and BaseOperator's.

    :param python_callable: the function to decorate.
    """
    return _decorator("huggingface_agent", python_callable, kwargs)
