"""Prompt templates: Handlebars 4 over upstream XCom values, rendered as plain text.

``user_prompt`` and ``system_prompt`` of the chat operators are Handlebars templates and this
module is the project's one renderer for them (DESIGN.md section 3). The language is
handlebars.js 4.7's, checked case by case against handlebars.js itself
(``tests/prompts/handlebars_corpus.json``, ``python -m dev.handlebars.report``), with three
documented differences:

* No HTML escaping: ``{{x}}``, ``{{{x}}}`` and ``{{&x}}`` all insert the value unchanged.
* Values as text: a string as is; ``None`` as ``''``; booleans as ``true``/``false``; numbers
  with ``str``; dicts and lists as one-line JSON (``ensure_ascii=False``), not JavaScript's
  ``1,2`` or ``[object Object]``; bytes decoded as UTF-8 (invalid bytes become U+FFFD); dates
  and times with ``isoformat()``; anything else with ``str``. ``{{json x}}`` is JSON with indent 2.
* Strict: a value tag whose path resolves to nothing (a missing name or key, an index past a
  list's end, a path into a string, number or null) raises PromptTemplateError naming the
  field, the tag, what is missing and the names in scope, where Handlebars prints ``''``.
  Block arguments are not strict: there a missing value is false or empty.

Everything else is Handlebars': paths (``a.b``, ``a/b``, ``items.0.name``, ``items.length``,
``[odd key]``, ``[fetch.v2].data``, ``"key with space"``, ``this``, ``../x``, ``@root.x``,
``@index``, ``@key``, ``@first``, ``@last``), literals (``true``, ``false``, numbers, strings,
``null``), ``#if``/``#unless`` (``includeZero=true``), ``#each``/``#with`` (block parameters
``as |x i|``), ``{{else}}``/``{{^}}`` and ``{{else if ...}}`` chains, Mustache sections
``{{#x}}`` and inverted sections ``{{^x}}``, ``lookup`` (also as a subexpression), comments,
``\\{{x}}`` escapes, standalone lines and ``~`` whitespace control. Truthiness is JavaScript's
(``{}`` is true, ``0``, ``""``, ``null`` and ``[]`` are false). A value is data: ``{{...}}``
inside it is never rendered. Attributes of non-dict objects are reachable when public and not
callable (``logical_date.year``). Refused with the line and column of the fault: malformed
tags, unclosed or mismatched blocks, unknown helpers, partials and decorators.

Speed: every Airflow task is a fresh process, ``import pybars`` costs about 0.36 s and compiling
a template about 50 ms. Templates without blocks are rendered here in pure Python; templates
with blocks go to pybars3, imported on first need (:mod:`airflow_provider_huggingface.prompts.blocks`).

The parts: :mod:`~airflow_provider_huggingface.prompts.parser` gives the tree,
:mod:`~airflow_provider_huggingface.prompts.evaluate` resolves paths and renders text and values,
:mod:`~airflow_provider_huggingface.prompts.values` holds JavaScript's truthiness and the value as
text, :mod:`~airflow_provider_huggingface.prompts.missing` the messages of strict rendering.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface.exceptions import PromptTemplateError
from airflow_provider_huggingface.prompts.blocks import render_blocks
from airflow_provider_huggingface.prompts.evaluate import Frame, render_run
from airflow_provider_huggingface.prompts.parser import Comment, TemplateProblem, parse

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from airflow_provider_huggingface.prompts.syntax import Program

__all__ = ["LazyScope", "referenced_roots", "render_prompt"]


def render_prompt(template: str, scope: Mapping[str, Any], *, field: str = "user_prompt") -> str:
    """Render ``template`` over ``scope`` (a dict or a :class:`LazyScope`) as plain text.

    :param field: the operator argument being rendered, named in every error message.
    :raises PromptTemplateError: the template is malformed or a value tag resolves to nothing.
    """
    if not isinstance(template, str):
        raise PromptTemplateError(f"{field}: expected a template string, got {type(template).__name__}")
    try:
        parsed = parse(template)
        if parsed.simple:
            return _render_simple(parsed.program, scope)
        return render_blocks(template, parsed.program, scope)
    except TemplateProblem as problem:
        raise PromptTemplateError(f"{field}: {problem}") from None


def referenced_roots(template: str, *, field: str = "user_prompt") -> frozenset[str]:
    """The names of the scope a template may use: the first segment of each path that may start
    at the top of the scope (``{{summarize.text}}``, ``{{#each fetch.items}}``, ``{{../ds}}``
    inside one block, ``{{@root.params.x}}``). Names inside ``#each``/``#with`` refer to the
    item and are not listed; neither are block parameters or the whole scope (``{{this}}``).
    Inside a Mustache section ``{{#x}}``, which keeps the outer ``this`` when ``x`` is true,
    names are listed too.

    :raises PromptTemplateError: the template is malformed.
    """
    try:
        return parse(template).roots
    except TemplateProblem as problem:
        raise PromptTemplateError(f"{field}: {problem}") from None


class LazyScope(Mapping[str, Any]):
    """Names in scope, some loaded only when a template touches them.

    ``LazyScope(values, loaders)``: ``values`` maps names to ready values; ``loaders`` maps
    names to functions without arguments that return the value (an XCom pull, say). A loader
    runs at most once, on first use; its result is kept and its exceptions propagate. Listing
    the names (for error messages) loads nothing. A name in both takes its value from ``values``.
    """

    def __init__(
        self,
        values: Mapping[str, Any] | None = None,
        loaders: Mapping[str, Callable[[], Any]] | None = None,
    ) -> None:
        self._values = dict(values or {})
        self._loaders = dict(loaders or {})
        # A fixed list: iterating must not change when a value is loaded mid-iteration.
        self._names = list(dict.fromkeys([*self._values, *self._loaders]))

    def __getitem__(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        value = self._values[name] = self._loaders[name]()
        return value

    def __contains__(self, name: object) -> bool:
        return name in self._values or name in self._loaders

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        pending = [name for name in self._loaders if name not in self._values]
        return f"LazyScope(loaded={list(self._values)}, pending={pending})"


def _render_simple(program: Program, scope: Mapping[str, Any]) -> str:
    return render_run([n for n in program.body if not isinstance(n, Comment)], Frame(scope, None, scope))
