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
a template about 50 ms. Templates without blocks are rendered here in pure Python. Blocks go to
pybars3, imported on first need, as a skeleton that holds nothing but calls of our helpers: our
parser applies Handlebars' whitespace rules and our helpers supply the text, values and block
semantics, while pybars supplies block structure and scopes. Compiled templates are cached;
compiling is serialized by a lock because pybars' compiler shares one code builder.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import threading
from collections.abc import Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface.exceptions import PromptTemplateError
from airflow_provider_huggingface.prompts.parser import (
    CACHE_SIZE,
    Block,
    Call,
    Comment,
    Literal,
    Path,
    Program,
    TemplateProblem,
    Text,
    Value,
    parse,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["LazyScope", "referenced_roots", "render_prompt"]

_MAX_NAMES = 25  # names listed in an error message
_ABSENT = object()


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
        return _render_blocks(template, parsed.program, scope)
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


# ---------------------------------------------------------------------------------------------
# Values: lookup and formatting, shared by both renderers.


class _Frame:
    """A context a path is resolved in; pybars.Scope has the same fields."""

    __slots__ = ("context", "first", "index", "key", "last", "overrides", "parent", "root")

    def __init__(self, context: Any, parent: Any, root: Any, overrides: dict[str, Any] | None = None) -> None:
        self.context, self.parent, self.root, self.overrides = context, parent, root, overrides
        self.index = self.key = self.first = self.last = None


def _evaluate(expr: Any, frame: Any, node: Any, *, strict: bool) -> Any:
    if isinstance(expr, Path):
        return _resolve(frame, expr, node, strict=strict)
    if isinstance(expr, Literal):
        return expr.value
    args = [_evaluate(param, frame, node, strict=strict) for param in expr.params]
    if expr.helper == "log":  # Handlebars writes to the console; here the task log, and no text
        logging.getLogger(__name__).info("%s: %s", expr.text, " ".join(map(_to_text, args)))
        return ""
    if expr.helper == "json":
        return _Json(args[0])
    return _lookup(args[0], args[1], expr, node, frame, strict=strict)


def _lookup(obj: Any, key: Any, call: Call, node: Any, frame: Any, *, strict: bool) -> Any:
    """Handlebars' ``lookup obj key``: a falsy ``obj`` is returned as it is."""
    if _js_falsy(obj):
        if strict:
            raise TemplateProblem(_lookup_missing(call, obj, key, node))
        return obj
    found, value = _child(obj, _key_text(key))
    if not found and strict:
        raise TemplateProblem(_lookup_missing(call, obj, key, node))
    return value


def _resolve(frame: Any, path: Path, node: Any, *, strict: bool) -> Any:
    if path.param:
        return _block_param(frame, path, node, strict=strict)
    for _ in range(path.up):
        frame = _parent(frame)
        if frame is None:
            if strict:
                raise TemplateProblem(_missing_above(path, node))
            return None
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


def _walk(value: Any, path: Path, node: Any, start: int, frame: Any, *, strict: bool) -> Any:
    for number, segment in enumerate(path.segments[start:], start):
        found, child = _child(value, segment)
        if not found:
            if strict:
                raise TemplateProblem(_missing(path, node, number, value, frame.root))
            return None
        value = child
    return value


def _block_param(frame: Any, path: Path, node: Any, *, strict: bool) -> Any:
    name = path.segments[0]
    while frame is not None and not (frame.overrides and name in frame.overrides):
        frame = frame.parent
    value = frame.overrides[name] if frame is not None else None
    return _walk(value, path, node, 1, frame, strict=strict) if frame is not None else None


def _parent(frame: Any) -> Any:
    """The frame of ``../``: the next one up whose context differs, as Handlebars' depths."""
    context = frame.context
    frame = frame.parent
    while frame is not None and _same(frame.context, context):
        frame = frame.parent
    return frame


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    scalar = (str, int, float, bool, type(None))
    return isinstance(a, scalar) and type(a) is type(b) and a == b


def _data_variable(frame: Any, name: str) -> tuple[bool, Any]:
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


def _key_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    return "" if key is None else str(key)


class _Json:
    """The value of ``{{json x}}``: formatted with indent 2."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _to_text(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return value
    if kind is int or kind is float:  # exact types first: the checks below are slower
        return str(value)
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _Json):
        return json.dumps(value.value, indent=2, ensure_ascii=False, default=_json_default)
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    return _json_default(value)


def _json_default(value: Any) -> Any:
    """What JSON cannot hold: mappings as dicts, sets as lists, everything else as text."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _value_of(node: Value, frame: Any) -> Any:
    return _evaluate(node.expr, frame, node, strict=True)


def _emit(node: Value, frame: Any) -> str:
    return _to_text(_value_of(node, frame))


def _render_simple(program: Program, scope: Mapping[str, Any]) -> str:
    return _render_run([n for n in program.body if not isinstance(n, Comment)], _Frame(scope, None, scope))


def _render_run(nodes: list[Text | Value], frame: Any) -> str:
    return "".join(node.value if isinstance(node, Text) else _emit(node, frame) for node in nodes)


def _js_falsy(value: Any) -> bool:
    """JavaScript's falsy values, as JSON data has them (``{}`` and ``[]`` are true there)."""
    if value is None or value is False:
        return True
    if isinstance(value, (str, bytes, bytearray)):  # not ==: an XCom object may compare oddly
        return not value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value == 0 or math.isnan(value)
    return False


def _is_empty(value: Any) -> bool:
    """Handlebars' ``Utils.isEmpty``: falsy but not 0, or an empty list."""
    if isinstance(value, (list, tuple)):
        return not value
    return _js_falsy(value) and not (isinstance(value, (int, float)) and value == 0 and value is not False)


# ---------------------------------------------------------------------------------------------
# Error messages


def _missing(path: Path, node: Any, number: int, parent: Any, root: Mapping[str, Any]) -> str:
    segment = path.segments[number]
    prefix = "../" * path.up + ("@root." if path.root else "")
    depth = getattr(node, "depth", 0)
    if number:
        where = f"{prefix}{'.'.join(path.segments[:number])}"
        detail = _no_child(f'"{where}"', where, parent, segment)
    elif path.root or path.up >= depth or parent is root:
        detail = f'no name "{segment}" in scope.{_did_you_mean(segment, root)}'
    else:
        detail = _no_child(f"the current item of {node.within}", "this", parent, segment)
        detail += f" Names from outside the block are ../{segment} or @root.{segment}."
    return (
        f"{node.tag} resolves to nothing: {detail} Names in scope: {_names(root)}. Fix the path, or "
        f"guard it with {{{{#if {path.text}}}}}...{{{{/if}}}} if the value may be absent."
    )


def _missing_above(path: Path, node: Any) -> str:
    return f"{node.tag} resolves to nothing: {path.text} climbs above the top of the scope; remove a ../"


def _lookup_missing(call: Call, obj: Any, key: Any, node: Any) -> str:
    if _js_falsy(obj):
        detail = f"its object is {_to_text(obj) or 'empty'!r}, so it has no {_key_text(key)!r}."
    else:
        detail = _no_child("its object", "it", obj, _key_text(key))
    return f"{node.tag} resolves to nothing: {call.text}: {detail}"


def _no_child(label: str, where: str, parent: Any, segment: str) -> str:
    if isinstance(parent, Mapping):
        return f'{label} has no key "{segment}" (keys: {_names(parent)}).{_did_you_mean(segment, parent)}'
    if isinstance(parent, (list, tuple)):
        if segment.isdigit():
            return f"{label} has {len(parent)} item(s), so index {segment} is past its end."
        return f'{label} is a list and "{segment}" is not an index; write e.g. {where}.0.{segment}.'
    if parent is None:
        return f'{label} is null, so it has no "{segment}".'
    return f'{label} is {_kind(parent)}, not a dict, so it has no "{segment}".'


def _kind(value: Any) -> str:
    kinds = (
        (bool, "a boolean"),
        (str, "a string"),
        ((int, float), "a number"),
        ((bytes, bytearray), "bytes"),
    )
    return next((name for cls, name in kinds if isinstance(value, cls)), f"a {type(value).__name__}")


def _names(mapping: Mapping[Any, Any]) -> str:
    names = [str(name) for name in islice(mapping, _MAX_NAMES)]
    return (", ".join(names) or "none") + (", ..." if len(mapping) > _MAX_NAMES else "")


def _did_you_mean(segment: str, mapping: Mapping[Any, Any]) -> str:
    import difflib  # only on the error path

    close = difflib.get_close_matches(segment, [str(name) for name in mapping], n=1)
    return f' Did you mean "{close[0]}"?' if close else ""


# ---------------------------------------------------------------------------------------------
# Blocks: pybars3, imported and compiled on first need.

_compiled: dict[str, Callable[[Mapping[str, Any]], str]] = {}
_compile_lock = threading.Lock()


def _render_blocks(template: str, program: Program, scope: Mapping[str, Any]) -> str:
    render = _compiled.get(template)
    if render is None:
        with _compile_lock:  # pybars' compiler shares one code builder: never two compiles at once
            render = _compiled.get(template)
            if render is None:
                render = _compile(program)
                if len(_compiled) >= CACHE_SIZE:
                    _compiled.pop(next(iter(_compiled)))
                _compiled[template] = render
    return render(scope)


def _compile(program: Program) -> Callable[[Mapping[str, Any]], str]:
    import pybars  # about 0.36 s: paid only by templates with blocks

    nodes: list[Any] = []
    source = _skeleton(program, nodes)
    try:
        function = pybars.Compiler().compile(source)
    except pybars.PybarsError as error:  # our skeleton is plain pybars syntax: a bug of ours
        raise TemplateProblem(f"pybars could not compile the template: {error}") from None
    # pybars registers each template as a module; the function keeps its globals, so the
    # registration is dropped rather than left to grow with every compile.
    sys.modules.pop(function.__module__, None)
    helpers = _pybars_helpers(nodes, pybars)
    scope_class = pybars.Scope
    return lambda scope: function(scope_class(scope, None, scope), helpers=helpers)


def _skeleton(program: Program | None, nodes: list[Any]) -> str:
    """The pybars source of a program: only helper calls, each given the number of its node.
    No text reaches pybars, so its own whitespace rules have nothing to act on: the text is
    already as Handlebars' rules leave it."""
    if program is None:
        return ""
    parts = []
    run: list[Text | Value] = []  # text and values between blocks: one helper call renders them
    for node in [*program.body, None]:
        if isinstance(node, (Text, Value)):
            run.append(node)
            continue
        if run:
            nodes.append(run)
            parts.append(f"{{{{hf-run {len(nodes) - 1}}}}}")
            run = []
        if isinstance(node, Block):
            nodes.append(node)
            number = len(nodes) - 1
            inner = _skeleton(node.program, nodes), _skeleton(node.inverse, nodes)
            parts.append(f"{{{{#hf-block {number}}}}}{inner[0]}{{{{else}}}}{inner[1]}{{{{/hf-block}}}}")
    return "".join(parts)


def _pybars_helpers(nodes: list[Any], pybars: Any) -> dict[str, Callable[..., Any]]:
    scope_class, strlist = pybars.Scope, pybars.strlist

    def block(this: Any, options: dict[str, Any], number: int) -> Any:
        node: Block = nodes[number]
        fn, inverse = options["fn"], options["inverse"]
        value = _evaluate(node.params[0], this, node, strict=False)
        helper = node.helper
        if helper in ("if", "unless"):
            include_zero = not _js_falsy(
                _evaluate(node.hash.get("includeZero", Literal("", None)), this, node, strict=False)
            )
            false = (not include_zero and _js_falsy(value)) or _is_empty(value)
            return (inverse if false == (helper == "if") else fn)(this)
        if helper == "with":
            if _is_empty(value):
                return inverse(this)
            return fn(scope_class(value, this, this.root, overrides=_params(node, value)))
        if helper == "each" or (not helper and isinstance(value, (list, tuple))):
            return each(this, fn, inverse, node, value)
        # a Mustache section: Handlebars' blockHelperMissing
        if value is True:
            return fn(this)
        if value is False or value is None:
            return inverse(this)
        return fn(scope_class(value, this, this.root, overrides=_params(node, value)))

    def each(this: Any, fn: Any, inverse: Any, node: Block, value: Any) -> Any:
        items = _items(value)
        if not items:
            return inverse(this)
        result, last = strlist(), len(items) - 1
        for index, (key, item) in enumerate(items):
            frame = scope_class(
                item,
                this,
                this.root,
                overrides=_params(node, item, key),
                index=index,
                key=key,
                first=index == 0,
                last=index == last,
            )
            result.grow(fn(frame))
        return result

    return {
        "hf-run": lambda this, number: strlist([_render_run(nodes[number], this)]),
        "hf-block": block,
    }


def _params(node: Block, *values: Any) -> dict[str, Any] | None:
    return dict(zip(node.block_params, values, strict=False)) if node.block_params else None


def _items(value: Any) -> list[tuple[Any, Any]]:
    if isinstance(value, Mapping):
        return [(key, value[key]) for key in list(value)]
    if isinstance(value, (list, tuple)):
        return list(enumerate(value))
    return []  # strings, numbers, None: nothing to iterate, as in Handlebars.js
