"""The request of each input of a batch: its prompts and messages rendered and checked, nothing sent.

:class:`RequestBuilder` renders a prompt that does not reach ``{{item}}`` once for the whole batch,
and the others once per input, naming the input's index in any error.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow.sdk import XComArg

from airflow_provider_huggingface._internal.chat import check_encodable
from airflow_provider_huggingface.exceptions import ConfigurationError, PromptTemplateError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow.sdk import Context

    from airflow_provider_huggingface.hooks.huggingface import ChatRequest, HuggingFaceHook


EXAMPLES = 3  # inputs whose prompts as sent are kept for the task's rendered fields


class RequestBuilder:
    """Builds and checks the request of each input: prompts and messages rendered, nothing sent.

    :param context: the task's context (the prompts' scope comes from it).
    :param hook: the hook that checks and builds requests.
    :param user_prompt: the user message template.
    :param system_prompt: the system message template, if any.
    :param messages: the conversation's templates, or an upstream task's output (data), if any.
    :param generation: the model and generation settings, as the hook takes them.
    """

    def __init__(
        self,
        *,
        context: Context,
        hook: HuggingFaceHook,
        user_prompt: str | None,
        system_prompt: str | None,
        messages: Any = None,
        generation: dict[str, Any],
    ) -> None:
        from airflow_provider_huggingface.prompts.messages import check_messages, resolve_contents
        from airflow_provider_huggingface.prompts.renderer import referenced_roots, render_prompt
        from airflow_provider_huggingface.prompts.scope import prompt_scope

        self._hook = hook
        self._generation = generation
        #: The messages of the first inputs as sent, for the task's rendered fields.
        self.examples: list[list[dict[str, Any]]] = []
        self._render = render_prompt
        # The same for every item: a mistake there is no one item's, so it is checked on its own.
        hook.prepare_chat(user_prompt="check", **generation)
        # One scope for all items (an XCom is pulled once); `item` is laid over it per input.
        self._scope = prompt_scope(context, item=None)
        self._templates = {"user_prompt": user_prompt, "system_prompt": system_prompt}
        if isinstance(messages, XComArg):  # an upstream task's output: data, never rendered
            messages = check_messages(messages.resolve(context))
            self._roles = [m["role"] for m in messages]
            self._fixed: dict[str, str | None] = {_content(i): m["content"] for i, m in enumerate(messages)}
        else:
            messages, data = resolve_contents(messages, context)  # an upstream output as a turn: data
            messages = check_messages(messages) if messages is not None else []
            self._roles = [m["role"] for m in messages]
            self._fixed = {_content(i): m["content"] for i, m in enumerate(messages) if i in data}
            self._templates.update(
                {_content(i): m["content"] for i, m in enumerate(messages) if i not in data}
            )
        for field, template in self._templates.items():
            if not template:
                self._fixed[field] = template
            elif not _per_item(template, referenced_roots(template, field=field)):
                # Rendered once: the same text for every item, and shared by all their requests.
                self._fixed[field] = render_prompt(template, self._scope, field=field)

    def __call__(self, index: int, item: Any) -> ChatRequest:
        """The request of ``inputs[index]``.

        :raises PromptTemplateError, ConfigurationError: naming the index of the item.
        """
        item_scope = self._scope.with_values(item=item)
        try:
            # The input is written beside its reply: what cannot be written must fail before any call.
            check_encodable("the input", json.dumps(item, ensure_ascii=False, default=str))
            prompts: dict[str, Any] = dict(self._fixed)
            for field, template in self._templates.items():
                if template and field not in self._fixed:
                    prompts[field] = self._render(template, item_scope, field=field)
            turns = [
                {"role": role, "content": prompts.pop(_content(i))} for i, role in enumerate(self._roles)
            ]
            request = self._hook.prepare_chat(**prompts, messages=turns or None, **self._generation)
        except (PromptTemplateError, ConfigurationError) as error:
            raise type(error)(f"inputs[{index}] ({preview(item)}): {error}") from None
        if len(self.examples) < EXAMPLES and index == len(self.examples):
            self.examples.append(request.messages)
        return request


def handed_out(
    kept: list[tuple[int, Any, ChatRequest] | None],
) -> Iterator[tuple[int, Any, ChatRequest]]:
    """Each kept request once, dropped from the list as it goes (its reply takes the memory)."""
    for position, entry in enumerate(kept):
        kept[position] = None
        if entry is not None:
            yield entry


def _content(index: int) -> str:
    return f"messages[{index}].content"


def _per_item(template: str, roots: frozenset[str]) -> bool:
    # `{{this}}` or `@root` at the top could reach the item without naming it.
    return "item" in roots or "this" in template or "@root" in template


def preview(item: Any, size: int = 60) -> str:
    """An input as an error message quotes it: its start."""
    text = repr(item)
    return text if len(text) <= size else text[: size - 3] + "..."
