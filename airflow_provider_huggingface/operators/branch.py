"""``HuggingFaceBranchOperator``: a chat model chooses which downstream task runs next."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface._internal.airflow_compat import (
    BranchMixIn,
    branch_skips_in_mapped_task_groups,
)
from airflow_provider_huggingface.exceptions import ConfigurationError, StructuredOutputError
from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["HuggingFaceBranchOperator"]


class HuggingFaceBranchOperator(HuggingFaceChatOperator, BranchMixIn):
    """Ask a chat model which of this task's downstream tasks to run; the others are skipped.

    It takes the arguments of
    :class:`~airflow_provider_huggingface.operators.huggingface.HuggingFaceChatOperator` (prompts and
    ``messages`` as Handlebars templates, ``images``, model and generation settings, ``deferrable``...)
    except ``response_format``, which it sets itself: the model must answer with
    JSON whose choice is one of the allowed task ids (an ``enum`` in a JSON schema, which servers that
    support structured output enforce while generating). The reply is then checked against that schema
    here, whatever the server did: a reply that is exactly one allowed id (bare, quoted or in a code
    fence) is that choice, and a reason longer than the schema allows is cut, not refused. A reply
    that does not fit is asked again once, then the task fails naming what came back, unless
    ``default_choice`` is set (the XCom then still names the model and the tokens the calls used).
    The choice works as with Airflow's ``BaseBranchOperator``: the chosen tasks run, every other
    direct downstream task is skipped, and trigger rules further down hold.

    The XCom is ``{"choices": [...], "reason": "...", "model": ..., "usage": {...}}``.

    :param choices: the task ids (or task group ids) the model may choose from: a list, or a dict of
        id to a description that is put into the prompt. Default: every direct downstream task.
    :param allow_multiple: let the model choose several (at least one); default: exactly one.
    :param default_choice: the task id (or list of them) to follow when the model cannot give a valid
        choice after the second ask, instead of failing the task.
    """

    inherits_from_skipmixin = True
    ui_color = "#ffe88a"
    reply_reader = "choice"  # a bare id is a choice too; an over-long reason is cut, not refused

    def __init__(
        self,
        *,
        choices: list[str] | Mapping[str, str] | None = None,
        allow_multiple: bool = False,
        default_choice: str | list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("response_format") is not None:
            raise TypeError(
                "HuggingFaceBranchOperator sets response_format itself (JSON naming the choice): "
                "leave it out."
            )
        super().__init__(**kwargs)
        self.choices = choices
        self.allow_multiple = allow_multiple
        self.default_choice = default_choice
        self._options_added = False

    # --- what the model is asked

    def allowed(self) -> dict[str, str]:
        """The allowed choices, each with its description ('' when none was given)."""
        choices = self.choices
        if choices is None:
            choices = sorted(self.downstream_task_ids)
        if isinstance(choices, str) or not isinstance(choices, (list, tuple, Mapping)):
            raise ConfigurationError(
                f"choices must be a list of task ids or a dict of task id to description, not "
                f"{type(choices).__name__}."
            )
        allowed = dict(choices) if isinstance(choices, Mapping) else dict.fromkeys(choices, "")
        if not allowed:
            raise ConfigurationError(
                f"Task {self.task_id} has nothing to choose from: set it upstream of the tasks to "
                "branch into (branch >> [a, b]), or give choices."
            )
        bad = [c for c in allowed if not isinstance(c, str) or not isinstance(allowed[c] or "", str)]
        unknown = [c for c in allowed if c not in self.downstream_task_ids and not self._is_group(c)]
        if bad or unknown:
            raise ConfigurationError(
                f"choices {', '.join(map(repr, bad or unknown))} must name direct downstream tasks of "
                f"{self.task_id} (or task groups); its downstream tasks are "
                f"{', '.join(sorted(self.downstream_task_ids)) or 'none'}."
            )
        self._check_mapping()
        defaults = self._defaults()
        if len(defaults) > 1 and not self.allow_multiple:
            raise ConfigurationError(
                f"default_choice names {len(defaults)} tasks but allow_multiple is False: name one."
            )
        for default in defaults:
            if default not in allowed:
                raise ConfigurationError(
                    f"default_choice {default!r} is not one of the choices: {', '.join(allowed)}."
                )
        return {c: allowed[c] or "" for c in allowed}

    def _check_mapping(self) -> None:
        """Refuse a branch whose choice Airflow would not follow per map index: every downstream
        task would then run whatever the model chose."""
        dag = self.dag
        if dag is None:
            return
        expanded = getattr(dag.task_dict.get(self.task_id), "is_mapped", False)
        in_mapped_group = self.get_closest_mapped_task_group() is not None
        if not expanded and not in_mapped_group:
            return
        if not expanded and not branch_skips_in_mapped_task_groups():
            raise ConfigurationError(
                f"Task {self.task_id} is a branch inside a mapped task group: this Airflow does not "
                "follow such a choice (apache/airflow#67265), every downstream task would run. Map "
                "the branch and the tasks it chooses from over the same list with .expand(), "
                "outside the group: map index i of each task then follows index i of the branch."
            )
        unmapped = sorted(
            task_id
            for task_id in self.downstream_task_ids
            if not dag.task_dict[task_id].is_mapped
            and dag.task_dict[task_id].get_closest_mapped_task_group() is None
        )
        if unmapped:
            raise ConfigurationError(
                f"Task {self.task_id} is mapped but its downstream tasks {', '.join(unmapped)} are not: "
                "Airflow follows a mapped branch's choice per map index, so a task that runs once would "
                "run whatever each index chose. Map the tasks it chooses from over the same list as the "
                "branch (.expand()): map index i of each then follows index i of the branch."
            )

    def _is_group(self, group_id: str) -> bool:
        dag = self.dag
        return dag is not None and group_id in dag.task_group_dict

    def _defaults(self) -> list[str]:
        default = self.default_choice
        return [] if default is None else [default] if isinstance(default, str) else list(default)

    def response_schema(self, allowed: Mapping[str, str]) -> dict[str, Any]:
        """The JSON schema of a reply: the choice (or choices) first, then a short reason."""
        choice: dict[str, Any] = {"type": "string", "enum": list(allowed)}
        value: dict[str, Any]
        if self.allow_multiple:
            key, value = "choices", {"type": "array", "items": choice, "minItems": 1, "uniqueItems": True}
        else:
            key, value = "choice", choice
        return {
            "type": "object",
            "properties": {key: value, "reason": {"type": "string", "maxLength": 300}},
            "required": [key, "reason"],
            "additionalProperties": False,
        }

    def instruction(self, allowed: Mapping[str, str]) -> str:
        """What is added to the last user turn: the options and the answer's form."""
        lines = [f"- {name}: {text}" if text else f"- {name}" for name, text in allowed.items()]
        if self.allow_multiple:
            ask = 'Choose one or more of these options; answer with only JSON: {"choices": [...], '
        else:
            ask = 'Choose exactly one of these options; answer with only JSON: {"choice": "...", '
        return f'{ask}"reason": "..."}}, the reason in one short sentence.\nOptions:\n' + "\n".join(lines)

    def render_prompts(self, context: Context) -> None:
        super().render_prompts(context)
        self.add_options()

    def add_options(self) -> None:
        """Add the options to the last user turn, in place and once, so that the stored rendered
        fields (and the decorator's, stored again after it ran) hold the prompt as sent.

        The decorator's user prompt is known only once its function ran: until then this waits.
        """
        if self._options_added:
            return
        if isinstance(self.user_prompt, str):
            self.user_prompt = f"{self.user_prompt}\n\n{self.instruction(self.allowed())}"
        elif self.user_prompt is None and isinstance(self.messages, list) and self.messages:
            # Data from upstream is not changed in place: the last turn is copied.
            last = self.messages[-1]
            if isinstance(last, dict) and isinstance(last.get("content"), str):
                last = {**last, "content": f"{last['content']}\n\n{self.instruction(self.allowed())}"}
                self.messages = [*self.messages[:-1], last]
        else:
            return
        self._options_added = True

    @property
    def chat_settings(self) -> dict[str, Any]:
        schema = self.response_schema(self.allowed())
        # huggingface_hub rewrites OpenAI's json_schema form to TGI's {"value": schema} on endpoints,
        # which llama.cpp's server ignores; it reads "schema". Sent both ways, any of them constrains.
        if self.hook.settings.base_url:
            response_format = {"type": "json_object", "value": schema, "schema": schema}
        else:
            response_format = {"type": "json_schema", "json_schema": {"name": "choice", "schema": schema}}
        return {**super().chat_settings, "response_format": response_format}

    # --- what is done with the answer

    def execute(self, context: Context) -> Any:
        result: Mapping[str, Any]
        try:
            result = super().execute(context)
        except StructuredOutputError as error:
            result = self.undecided(error)
        return self.follow(context, result)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        result: Mapping[str, Any]
        try:
            result = super().execute_complete(context, event)
        except StructuredOutputError as error:
            result = self.undecided(error)
        return self.follow(context, result)

    def undecided(self, error: StructuredOutputError) -> dict[str, Any]:
        """The result when the model gave no valid choice twice: the default, or the error."""
        defaults = self._defaults()
        if not defaults:
            raise error
        self.log.warning("The model gave no valid choice (%s); following default_choice %s.", error, defaults)
        reason = f"default_choice: the model gave no valid choice ({error})"
        paid = error.result or {}  # the calls were billed all the same: say which model, and what
        return {
            "json": {"choices": defaults, "reason": reason},
            "model": paid.get("model"),
            "usage": paid.get("usage"),
        }

    def follow(self, context: Context, result: Mapping[str, Any]) -> dict[str, Any]:
        """Skip every downstream task but the chosen ones; push and return the XCom."""
        answer = result["json"]
        chosen = answer.get("choices") if "choices" in answer else [answer["choice"]]
        decision = {
            "choices": list(chosen),
            "reason": answer.get("reason", ""),
            "model": result.get("model"),
            "usage": result.get("usage"),
        }
        self.publish_model(context, decision["model"])
        if self.do_xcom_push:
            # do_branch raises to skip tasks, so the return value would never reach XCom.
            context["ti"].xcom_push(key="return_value", value=decision)
        self.do_branch(context, decision["choices"])
        return decision
