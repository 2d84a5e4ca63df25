"""Prompt templates: Handlebars 4 over upstream XCom values, rendered as plain text.

``user_prompt`` and ``system_prompt`` of the chat operators are Handlebars templates and this
module renders them: it walks the tree of :mod:`~airflow_provider_huggingface.prompts.parser`,
resolving paths in frames (``this``, its parents, the root and ``#each``'s data). The language is
handlebars.js 4.7's, checked case by case against handlebars.js itself
(``tests/prompts/handlebars_corpus.json``, ``python -m dev.handlebars.report``), with three
documented differences (README, "Prompt templates"):

* No HTML escaping: ``{{x}}``, ``{{{x}}}`` and ``{{&x}}`` all insert the value unchanged.
* Values as text (:func:`~airflow_provider_huggingface.prompts.values.to_text`): dicts and lists
  as one-line JSON, not JavaScript's ``1,2`` or ``[object Object]``; ``{{json x}}`` with indent 2.
* Strict: a value tag whose path resolves to nothing raises PromptTemplateError naming the
  field, the tag, what is missing and the names in scope
  (:mod:`~airflow_provider_huggingface.prompts.missing`), where Handlebars prints ``''``. Block
  arguments are not strict: there a missing value is false or empty.

A value is data: ``{{...}}`` inside it is never rendered. Attributes of non-dict objects are
reachable when public and not callable (``logical_date.year``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface.exceptions import PromptTemplateError
from airflow_provider_huggingface.prompts.missing import lookup_missing, missing, missing_above
from airflow_provider_huggingface.prompts.parser import parse
from airflow_provider_huggingface.prompts.syntax import (
    Block,
    Call,
    Literal,
    Path,
    TemplateProblem,
    Text,
    Value,
)
from airflow_provider_huggingface.prompts.values import Json, is_empty, js_falsy, key_text, to_text

if TYPE_CHECKING:
    from airflow_provider_huggingface.prompts.syntax import Program

__all__ = ["referenced_roots", "render_prompt"]

logger = logging.getLogger(__name__)  # {{log}} writes here
_ABSENT = object()


def render_prompt(template: str, scope: Mapping[str, Any], *, field: str = "user_prompt") -> str:
    """Render ``template`` over ``scope`` (a dict, or a mapping that resolves paths itself such as
    :class:`~airflow_provider_huggingface.prompts.scope.PromptScope`) as plain text.

    :param field: the operator argument being rendered, named in every error message.
    :raises PromptTemplateError: the template is malformed or a value tag resolves to nothing.
    """
    if not isinstance(template, str):
        raise PromptTemplateError(f"{field}: expected a template string, got {type(template).__name__}")
    try:
        return _render(parse(template).program, Frame(scope, None, scope))
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


class Frame:
    """A context a path is resolved in: ``this``, the frame around it, the root, the block
    parameters it defines and, in ``#each``, the data variables."""

    __slots__ = ("context", "first", "index", "key", "last", "overrides", "parent", "root")

    def __init__(
        self,
        context: Any,
        parent: Frame | None,
        root: Any,
        overrides: dict[str, Any] | None = None,
        index: int | None = None,
        key: Any = None,
        last: bool | None = None,
    ) -> None:
        self.context, self.parent, self.root, self.overrides = context, parent, root, overrides
        self.index, self.key, self.last = index, key, last
        self.first = None if index is None else index == 0


# -- the tree walk ----------------------------------------------------------------------------


def _render(program: Program | None, frame: Frame) -> str:
    if program is None:
        return ""
    parts = []
    for node in program.body:
        kind = type(node)
        if kind is Text:
            parts.append(node.value)
        elif kind is Value:
            parts.append(to_text(_value_of(node, frame)))
        elif kind is Block:
            parts.append(_block(node, frame))
        # a Comment renders nothing
    return "".join(parts)


def _block(node: Block, frame: Frame) -> str:
    value = evaluate(node.params[0], frame, node, strict=False)
    helper = node.helper
    if helper in ("if", "unless"):
        include_zero = "includeZero" in node.hash and not js_falsy(
            evaluate(node.hash["includeZero"], frame, node, strict=False)
        )
        false = (not include_zero and js_falsy(value)) or is_empty(value)
        return _render(node.inverse if false == (helper == "if") else node.program, frame)
    if helper == "each" or (not helper and isinstance(value, (list, tuple))):
        return _each(node, value, frame)
    if helper == "with":
        if is_empty(value):
            return _render(node.inverse, frame)
    elif value is True:  # a Mustache section (Handlebars' blockHelperMissing) keeps `this` on true
        return _render(node.program, frame)
    elif value is False or value is None:
        return _render(node.inverse, frame)
    return _render(node.program, Frame(value, frame, frame.root, _params(node, value)))


def _each(node: Block, value: Any, frame: Frame) -> str:
    if isinstance(value, Mapping):
        items = [(key, value[key]) for key in list(value)]
    elif isinstance(value, (list, tuple)):
        items = list(enumerate(value))
    else:
        items = []  # strings, numbers, None: nothing to iterate, as in Handlebars.js
    if not items:
        return _render(node.inverse, frame)
    last = len(items) - 1
    return "".join(
        _render(
            node.program,
            Frame(item, frame, frame.root, _params(node, item, key), index, key, index == last),
        )
        for index, (key, item) in enumerate(items)
    )


def _params(node: Block, *values: Any) -> dict[str, Any] | None:
    return dict(zip(node.block_params, values, strict=False)) if node.block_params else None


def _value_of(node: Value, frame: Frame) -> Any:
    """A value tag's value: strict, unlike a block's argument (the module's docstring)."""
    return evaluate(node.expr, frame, node, strict=True)


# -- paths, literals and helper calls in a frame ----------------------------------------------


def evaluate(expr: Any, frame: Frame, node: Any, *, strict: bool) -> Any:
    if isinstance(expr, Path):
        return _resolve(frame, expr, node, strict=strict)
    if isinstance(expr, Literal):
        return expr.value
    args = [evaluate(param, frame, node, strict=strict) for param in expr.params]
    if expr.helper == "log":  # Handlebars writes to the console; here the task log, and no text
        logger.info("%s: %s", expr.text, " ".join(map(to_text, args)))
        return ""
    if expr.helper == "json":
        return Json(args[0])
    return _lookup(args[0], args[1], expr, node, frame, strict=strict)


def _lookup(obj: Any, key: Any, call: Call, node: Any, frame: Frame, *, strict: bool) -> Any:
    """Handlebars' ``lookup obj key``: a falsy ``obj`` is returned as it is."""
    if js_falsy(obj):
        if strict:
            raise TemplateProblem(lookup_missing(call, obj, key, node))
        return obj
    found, value = _child(obj, key_text(key))
    if not found and strict:
        raise TemplateProblem(lookup_missing(call, obj, key, node))
    return value


def _resolve(frame: Frame, path: Path, node: Any, *, strict: bool) -> Any:
    if path.param:
        return _block_param(frame, path, node, strict=strict)
    for _ in range(path.up):
        parent = _parent(frame)
        if parent is None:
            if strict:
                raise TemplateProblem(missing_above(path, node))
            return None
        frame = parent
    if path.data:
        found, value = _data_variable(frame, path.data)
        if not found and strict:
            raise TemplateProblem(
                f"{node.tag} resolves to nothing: @{path.data} exists only inside {{{{#each}}}}."
            )
        return value
    value = frame.root if path.root else frame.context
    start = 0
    # At the top of a run's scope the scope itself resolves the leading segments (task ids may
    # hold dots): see prompts/scope.py.
    if value is frame.root and path.segments and (resolve_path := getattr(value, "resolve_path", None)):
        start, value = resolve_path(path.segments)
    return _walk(value, path, node, start, frame, strict=strict)


def _walk(value: Any, path: Path, node: Any, start: int, frame: Frame, *, strict: bool) -> Any:
    for number, segment in enumerate(path.segments[start:], start):
        found, child = _child(value, segment)
        if not found:
            if strict:
                raise TemplateProblem(missing(path, node, number, value, frame.root))
            return None
        value = child
    return value


def _block_param(frame: Frame | None, path: Path, node: Any, *, strict: bool) -> Any:
    name = path.segments[0]
    while frame is not None and not (frame.overrides and name in frame.overrides):
        frame = frame.parent
    if frame is None or frame.overrides is None:
        return None
    return _walk(frame.overrides[name], path, node, 1, frame, strict=strict)


def _parent(frame: Frame) -> Frame | None:
    """The frame of ``../``: the next one up whose context differs, as Handlebars' depths."""
    context = frame.context
    parent = frame.parent
    while parent is not None and _same(parent.context, context):
        parent = parent.parent
    return parent


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    scalar = (str, int, float, bool, type(None))
    return isinstance(a, scalar) and type(a) is type(b) and a == b


def _data_variable(frame: Frame | None, name: str) -> tuple[bool, Any]:
    while frame is not None and frame.index is None:  # #with and sections lie between it and #each
        frame = frame.parent
    return (False, None) if frame is None else (True, getattr(frame, name))


def _child(value: Any, segment: str) -> tuple[bool, Any]:
    if type(value) is dict or isinstance(value, Mapping):
        return (True, value[segment]) if segment in value else (False, None)
    if isinstance(value, (list, tuple, str)):
        if segment == "length":
            return True, len(value)
        index = int(segment) if segment.isascii() and segment.isdigit() else len(value)
        return (True, value[index]) if index < len(value) else (False, None)
    if value is None or isinstance(value, (bytes, bytearray, int, float)) or segment.startswith("_"):
        return False, None
    attribute = getattr(value, segment, _ABSENT)
    return (False, None) if attribute is _ABSENT or callable(attribute) else (True, attribute)
