"""Prompt templates: Handlebars over upstream XCom values, rendered as plain text.

``user_prompt`` and ``system_prompt`` of the chat operators are Handlebars templates and this
module is the project's one renderer for them (DESIGN.md section 3). The rules:

* Values: a string as is; a value that exists but is ``None`` as ``''``; booleans as
  ``true``/``false``; numbers with ``str``; dicts and lists as one-line JSON
  (``ensure_ascii=False``); bytes decoded as UTF-8, invalid bytes becoming U+FFFD; dates and
  times with ``isoformat()``; anything else with ``str``. ``{{json x}}`` is JSON with indent 2.
* No HTML escaping: ``{{x}}``, ``{{{x}}}`` and ``{{&x}}`` all insert the value unchanged. A
  value is data: ``{{...}}`` inside it is never rendered.
* Strict: a value tag whose path resolves to nothing (a missing name or key, an index past a
  list's end, a path into a string, number or null) raises PromptTemplateError naming the
  field, the tag, what is missing and the names in scope. The argument of ``#if``,
  ``#unless``, ``#each`` and ``#with`` is not strict: there a missing value is false or empty.
* Paths: ``a.b`` or ``a/b``, ``items.0.name``, ``items.length``, ``[odd key]``, ``this``,
  ``../x``, ``@root.x``, ``@index``, ``@key`` (the index when iterating a list), ``@first``,
  ``@last``; public, non-callable attributes of other objects (``logical_date.year``).
* Blocks ``#if``, ``#unless``, ``#each``, ``#with``, each with an optional ``{{else}}`` (or
  ``{{^}}``). Truthiness is Python's: ``0``, ``""``, ``[]`` and ``{}`` are false. ``#each``
  iterates dicts and lists; anything else counts as empty. Inside ``#each``/``#with`` names
  refer to the current item; outer names are ``../name`` or ``@root.name``. Comments
  (``{{! }}``, ``{{!-- --}}``), ``~`` whitespace control and standalone block lines follow
  pybars3's rules: Handlebars', except that a standalone close tag on the template's last line
  removes the line break before it instead of the one after it.
* ``\\{{x}}`` renders a literal ``{{x}}`` (as Handlebars.js does; pybars itself cannot), and
  ``\\\\{{x}}`` a backslash followed by the value.
* Line endings of the template text are normalized to ``\\n`` (pybars does so in some places
  only, so both renderers do it everywhere); values keep theirs.
* Refused with the line and column of the fault: unclosed or mismatched blocks, unclosed
  tags, a ``}}`` in the text that closes neither a ``{{`` nor two ``{`` of the text (so JSON
  examples in a prompt stay legal), unknown helpers, partials, ``{{else if}}``, block
  parameters and inverted sections.

Speed: every Airflow task is a fresh process, ``import pybars`` costs about 0.36 s and compiling
a template about 50 ms. Templates of text and value tags only are rendered here in pure
Python. Anything else (blocks, comments, ``~``) goes to pybars3, imported on first need, after
re-emitting the template so that each value and block argument is fetched by our helpers:
pybars supplies block structure, scopes and whitespace control; lookups, strictness and
formatting stay ours, identical on both paths. Compiled templates are cached; compiling is
serialized by a lock because pybars' compiler shares one code builder between instances.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface.exceptions import PromptTemplateError
from airflow_provider_huggingface.prompts.parser import (
    CACHE_SIZE,
    Node,
    Path,
    TemplateProblem,
    parse,
    root_name,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

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
            return _render_simple(parsed.nodes, scope)
        return _render_blocks(template, parsed.nodes, scope)
    except TemplateProblem as problem:
        raise PromptTemplateError(f"{field}: {problem}") from None


def referenced_roots(template: str, *, field: str = "user_prompt") -> frozenset[str]:
    """The names of the scope a template uses: the first segment of each path that starts at
    the top of the scope (``{{summarize.text}}``, ``{{#each fetch.items}}``, ``{{../ds}}``
    inside one block, ``{{@root.params.x}}``). Names inside ``#each``/``#with`` refer to the
    item and are not listed; neither is the whole scope (``{{this}}`` at the top, ``{{@root}}``).

    :raises PromptTemplateError: the template is malformed.
    """
    try:
        nodes = parse(template).nodes
    except TemplateProblem as problem:
        raise PromptTemplateError(f"{field}: {problem}") from None
    return frozenset(name for node in nodes if (name := root_name(node)) is not None)


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
    """The context a path is resolved in at the top of the scope; pybars.Scope has the same fields."""

    __slots__ = ("context", "first", "index", "key", "last", "parent", "root")

    def __init__(self, scope: Mapping[str, Any]) -> None:
        self.context = self.root = scope
        self.parent = self.index = self.key = self.first = self.last = None


def _path_of(node: Node) -> Path:
    if node.path is None:  # the parser gives every value tag a path: a bug of ours, not the template's
        raise RuntimeError(f"Template tag {node.text!r} reached the renderer without a path")
    return node.path


def _resolve(frame: Any, node: Node, *, strict: bool) -> Any:
    path = _path_of(node)
    for _ in range(path.up):
        frame = frame.parent
    if path.data:
        return _data_variable(frame, path.data)
    value = frame.root if path.root else frame.context
    start = 0
    # At the top of a run's scope the scope itself resolves the leading segments (task ids may
    # hold dots): see prompts/scope.py.
    if path.segments and (resolve_path := getattr(value, "resolve_path", None)) is not None:
        start, value = resolve_path(path.segments)
    for number, segment in enumerate(path.segments[start:], start):
        found, child = _child(value, segment)
        if not found:
            if strict:
                raise TemplateProblem(_missing(node, number, value, frame.root))
            return None
        value = child
    return value


def _data_variable(frame: Any, name: str) -> Any:
    while frame.index is None:  # #with and #if frames lie between a tag and its #each
        frame = frame.parent
    if name == "key" and frame.key is None:
        return frame.index  # as in Handlebars.js: a list's @key is the index
    return getattr(frame, name)


def _child(value: Any, segment: str) -> tuple[bool, Any]:
    if isinstance(value, Mapping):
        return (True, value[segment]) if segment in value else (False, None)
    if isinstance(value, (list, tuple)):
        if segment == "length":
            return True, len(value)
        index = int(segment) if segment.isascii() and segment.isdigit() else len(value)
        return (True, value[index]) if index < len(value) else (False, None)
    if value is None or isinstance(value, (str, bytes, bytearray, int, float)) or segment.startswith("_"):
        return False, None
    attribute = getattr(value, segment, _ABSENT)
    return (False, None) if attribute is _ABSENT or callable(attribute) else (True, attribute)


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
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


def _emit(node: Node, frame: Any) -> str:
    if node.kind == "literal":
        return node.text
    value = _resolve(frame, node, strict=True)
    if node.kind == "json":
        return json.dumps(value, indent=2, ensure_ascii=False, default=_json_default)
    return _to_text(value)


def _render_simple(nodes: tuple[Node, ...], scope: Mapping[str, Any]) -> str:
    top = _Frame(scope)
    return "".join(node.text if node.kind == "text" else _emit(node, top) for node in nodes)


def _missing(node: Node, number: int, parent: Any, root: Mapping[str, Any]) -> str:
    path = _path_of(node)
    segment = path.segments[number]
    prefix = "../" * path.up + ("@root." if path.root else "")
    if number:
        where = f"{prefix}{'.'.join(path.segments[:number])}"
        detail = _no_child(f'"{where}"', where, parent, segment)
    elif path.root or path.up == node.depth:
        detail = f'no name "{segment}" in scope.{_did_you_mean(segment, root)}'
    else:
        detail = _no_child(f"the current item of {node.within}", "this", parent, segment)
        detail += f" Names from outside the block are ../{segment} or @root.{segment}."
    return (
        f"{node.text} resolves to nothing: {detail} Names in scope: {_names(root)}. Fix the path, or "
        f"guard it with {{{{#if {path.text}}}}}...{{{{/if}}}} if the value may be absent."
    )


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


def _render_blocks(template: str, nodes: tuple[Node, ...], scope: Mapping[str, Any]) -> str:
    render = _compiled.get(template)
    if render is None:
        with _compile_lock:  # pybars' compiler shares one code builder: never two compiles at once
            render = _compiled.get(template)
            if render is None:
                render = _compile(nodes)
                if len(_compiled) >= CACHE_SIZE:
                    _compiled.pop(next(iter(_compiled)))
                _compiled[template] = render
    return render(scope)


def _compile(nodes: tuple[Node, ...]) -> Callable[[Mapping[str, Any]], str]:
    import pybars  # about 0.36 s: paid only by templates with blocks

    try:
        function = pybars.Compiler().compile(_pybars_source(nodes))
    except pybars.PybarsError as error:  # our own parser accepted it: a gap between the two grammars
        raise TemplateProblem(f"pybars could not compile the template: {error}") from None
    # pybars registers each template as a module; the function keeps its globals, so the
    # registration is dropped rather than left to grow with every compile.
    sys.modules.pop(function.__module__, None)
    helpers = _pybars_helpers(nodes, pybars)
    return lambda scope: function(scope, helpers=helpers)


def _pybars_source(nodes: Iterable[Node]) -> str:
    """The template with every value and block argument replaced by a call to our helpers,
    which receive the node's number. Whitespace, ~ and tag placement stay as written so that
    pybars' standalone-line and ~ rules see what the author wrote."""
    parts = []
    for number, node in enumerate(nodes):
        if node.kind == "text":
            # "~}}" in the text would trigger pybars' ~ rule; a "{" before a tag would make "{{{".
            text = node.text.replace("~}}", "{{hf-tilde}}}}")
            parts.append(text[:-1] + "{{hf-brace}}" if text.endswith("{") else text)
            continue
        inner = {
            "open": f"#{node.name} {number}",
            "else": "else",
            "close": f"/{node.name}",
            "comment": "!c",
        }.get(node.kind, f"hf-value {number}")
        parts.append(f"{{{{{'~' * node.trim[0]}{inner}{'~' * node.trim[1]}}}}}")
    return "".join(parts)


def _pybars_helpers(nodes: tuple[Node, ...], pybars: Any) -> dict[str, Callable[..., Any]]:
    scope_class, strlist = pybars.Scope, pybars.strlist

    def argument(this: Any, number: int) -> Any:
        return _resolve(this, nodes[number], strict=False)

    def if_(this: Any, options: dict[str, Any], number: int) -> Any:
        return options["fn" if argument(this, number) else "inverse"](this)

    def unless(this: Any, options: dict[str, Any], number: int) -> Any:
        return options["inverse" if argument(this, number) else "fn"](this)  # pybars drops the else

    def with_(this: Any, options: dict[str, Any], number: int) -> Any:
        value = argument(this, number)
        if not value:
            return options["inverse"](this)
        # pybars' own #with makes the item its own parent, which breaks ../
        return options["fn"](scope_class(value, this, options["root"]))

    def each(this: Any, options: dict[str, Any], number: int) -> Any:
        items = _items(argument(this, number))
        if not items:
            return options["inverse"](this)
        result, last = strlist(), len(items) - 1
        for index, (key, item) in enumerate(items):
            frame = scope_class(
                item, this, options["root"], index=index, key=key, first=index == 0, last=index == last
            )
            result.grow(options["fn"](frame))
        return result

    return {
        "hf-value": lambda this, number: strlist([_emit(nodes[number], this)]),
        "hf-tilde": lambda this: strlist(["~"]),
        "hf-brace": lambda this: strlist(["{"]),
        "if": if_,
        "unless": unless,
        "with": with_,
        "each": each,
    }


def _items(value: Any) -> list[tuple[Any, Any]]:
    if isinstance(value, Mapping):
        return [(key, value[key]) for key in list(value)]
    if isinstance(value, (list, tuple)):
        return [(None, item) for item in value]
    return []  # strings, numbers, None: nothing to iterate, as in Handlebars.js
