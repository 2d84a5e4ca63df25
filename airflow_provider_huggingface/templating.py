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
import re
import sys
import threading
from collections.abc import Mapping
from functools import lru_cache
from itertools import islice
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from airflow_provider_huggingface.errors import PromptTemplateError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

__all__ = ["LazyScope", "referenced_roots", "render_prompt"]

_BLOCK_HELPERS = ("if", "unless", "each", "with")
_CONTEXT_BLOCKS = ("each", "with")  # their body sees the item, not the outer context, as `this`
_DATA_VARS = ("index", "key", "first", "last")
_MAX_NAMES = 25  # names listed in an error message
_CACHE_SIZE = 256
_ABSENT = object()


def render_prompt(template: str, scope: Mapping[str, Any], *, field: str = "user_prompt") -> str:
    """Render ``template`` over ``scope`` (a dict or a :class:`LazyScope`) as plain text.

    :param field: the operator argument being rendered, named in every error message.
    :raises PromptTemplateError: the template is malformed or a value tag resolves to nothing.
    """
    if not isinstance(template, str):
        raise PromptTemplateError(f"{field}: expected a template string, got {type(template).__name__}")
    try:
        parsed = _parse(template)
        if parsed.simple:
            return _render_simple(parsed.nodes, scope)
        return _render_blocks(template, parsed.nodes, scope)
    except _Problem as problem:
        raise PromptTemplateError(f"{field}: {problem}") from None


def referenced_roots(template: str, *, field: str = "user_prompt") -> frozenset[str]:
    """The names of the scope a template uses: the first segment of each path that starts at
    the top of the scope (``{{summarize.text}}``, ``{{#each fetch.items}}``, ``{{../ds}}``
    inside one block, ``{{@root.params.x}}``). Names inside ``#each``/``#with`` refer to the
    item and are not listed; neither is the whole scope (``{{this}}`` at the top, ``{{@root}}``).

    :raises PromptTemplateError: the template is malformed.
    """
    try:
        nodes = _parse(template).nodes
    except _Problem as problem:
        raise PromptTemplateError(f"{field}: {problem}") from None
    return frozenset(name for node in nodes if (name := _root_name(node)) is not None)


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
# Parsing: one pass over the source gives the nodes both renderers share.


class _Problem(Exception):
    """A template fault; render_prompt prefixes the field name."""


class _Path(NamedTuple):
    text: str  # as written, for messages
    up: int = 0  # leading ../
    root: bool = False  # @root.
    data: str = ""  # index, key, first or last for @index ...
    segments: tuple[str, ...] = ()


class _Node(NamedTuple):
    kind: str  # text, literal (from \{{), value, json, open, else, close, comment
    text: str  # the text, or the tag as written
    path: _Path | None = None
    name: str = ""  # the block helper of open and close
    trim: tuple[bool, bool] = (False, False)  # ~ after {{ and before }}
    depth: int = 0  # #each/#with bodies around the place the path is evaluated
    within: str = ""  # the innermost #each/#with tag around it, for messages


class _Parsed(NamedTuple):
    nodes: tuple[_Node, ...]
    simple: bool  # text and value tags only: rendered without pybars


_TAG_START = re.compile(r"(\\{0,2})\{\{")
_TAG_END = re.compile(r"(~?)\}\}")
_TRIPLE_END = re.compile(r"\}(~?)\}\}")
_COMMENT_END = re.compile(r"--(~?)\}\}")
_BRACES = re.compile(r"\}\}|[{}]")
_CRLF = re.compile(r"\r+\n")
_WORD = re.compile(r"(?:\[[^\]]*\]|[^\s\[])+")  # a path may hold [a key with spaces]
# A segment: [anything] or a Handlebars identifier (its lexer's ID character class).
_SEGMENT = re.compile(r"\[([^\]]+)\]|([^\s!\"#%-,./;->@\[-^`{-~]+)")
_SIMPLE_KINDS = ("text", "literal", "value", "json")


@lru_cache(maxsize=_CACHE_SIZE)
def _parse(template: str) -> _Parsed:
    return _Parser(template).parse()


class _OpenBlock:
    __slots__ = ("in_else", "node", "pos")

    def __init__(self, node: _Node, pos: int) -> None:
        self.node, self.pos, self.in_else = node, pos, False


class _Parser:
    def __init__(self, source: str) -> None:
        self.src = source
        self.nodes: list[_Node] = []
        self.blocks: list[_OpenBlock] = []  # the blocks open at this point, innermost last
        self.braces = 0  # unclosed { of the text: a }} closing two of them is JSON, not a tag end

    def parse(self) -> _Parsed:
        pos = 0
        while (match := _TAG_START.search(self.src, pos)) is not None:
            self._text(pos, match.start())
            start = match.end() - 2
            if len(match.group(1)) == 1:
                pos = self._escaped(start)
                continue
            if match.group(1):
                self.nodes.append(_Node("text", "\\"))  # \\{{x}}: a backslash, then the tag
            pos = self._tag(start)
        self._text(pos, len(self.src))
        if self.blocks:
            node = self.blocks[-1].node
            self._fail(
                self.blocks[-1].pos,
                f"{node.text} is never closed; add {{{{/{node.name}}}}} after its content",
            )
        simple = all(node.kind in _SIMPLE_KINDS and node.trim == (False, False) for node in self.nodes)
        return _Parsed(tuple(self.nodes), simple)

    def _where(self, pos: int) -> str:
        line = self.src.count("\n", 0, pos) + 1
        column = pos - self.src.rfind("\n", 0, pos)
        return f"line {line}, column {column}"

    def _fail(self, pos: int, problem: str) -> NoReturn:
        raise _Problem(f"{self._where(pos)}: {problem}")

    def _text(self, start: int, end: int) -> None:
        if start == end:
            return
        for brace in _BRACES.finditer(self.src, start, end):
            if brace.group() == "{":
                self.braces += 1
            elif brace.group() == "}":
                self.braces = max(0, self.braces - 1)
            elif self.braces >= 2:
                self.braces -= 2
            else:
                self._fail(
                    brace.start(), "stray }} with no {{ before it; add the missing {{ or remove the }}"
                )
        # pybars turns \r\n into \n at the start of a text run only; normalizing every line
        # ending here keeps both renderers equal and the output predictable.
        self.nodes.append(_Node("text", _CRLF.sub("\n", self.src[start:end])))

    def _escaped(self, start: int) -> int:
        end = self.src.find("}}", start + 2)
        end = len(self.src) if end < 0 else end + 2
        self.nodes.append(_Node("literal", self.src[start:end]))
        return end

    def _tag(self, start: int) -> int:
        inner = start + 2
        ltrim = self.src.startswith("~", inner)
        inner += ltrim
        triple = self.src.startswith("{", inner)
        comment = self.src.startswith("!", inner)
        closer = _COMMENT_END if self.src.startswith("!--", inner) else _TAG_END
        end = (_TRIPLE_END if triple else closer).search(self.src, inner + triple)
        body = self.src[inner + triple : end.start()] if end else ""
        if end is None or (not comment and "{{" in body):
            opening = self.src[start : start + 20].split("\n")[0]
            self._fail(start, f"the tag {opening!r} is never closed; add {'}}}' if triple else '}}'}")
        tag = self.src[start : end.end()]
        trim = (ltrim, bool(end.group(1)))
        if comment:
            self.nodes.append(_Node("comment", tag, trim=trim))
        elif triple:
            self._value(tag, body.strip(), trim, start)
        else:
            self._classify(tag, body.strip(), trim, start)
        return end.end()

    def _classify(self, tag: str, body: str, trim: tuple[bool, bool], pos: int) -> None:
        first = body[:1]
        if first == "&":
            self._value(tag, body[1:].strip(), trim, pos)
        elif first == "#":
            self._open(tag, body[1:], trim, pos)
        elif first == "/":
            self._close(tag, body[1:].strip(), trim, pos)
        elif body in ("else", "^"):
            self._else(tag, trim, pos)
        elif body.startswith("else "):
            self._fail(pos, f"{tag} is not supported; nest an {{{{#if}}}} inside {{{{else}}}} instead")
        elif first == "^":
            self._fail(pos, f"inverted sections ({tag}) are not supported; use {{{{#unless ...}}}}")
        elif first == ">":
            self._fail(pos, f"partials ({tag}) are not supported; write the text into the prompt")
        else:
            self._value(tag, body, trim, pos)

    def _value(self, tag: str, body: str, trim: tuple[bool, bool], pos: int) -> None:
        words = _WORD.findall(body)
        if len(words) == 1 and words[0] != "json":
            kind = "value"
        elif words[:1] == ["json"]:
            kind = "json"
            if len(words) != 2:
                self._fail(pos, f"{tag}: json takes one value, e.g. {{{{json summarize}}}}")
        elif not words:
            self._fail(pos, f"{tag} is empty; put a name inside, e.g. {{{{summarize.text}}}}")
        elif words[0] in _BLOCK_HELPERS:
            self._fail(
                pos, f"{tag}: {words[0]} is a block; write {{{{#{words[0]} ...}}}}...{{{{/{words[0]}}}}}"
            )
        else:
            self._fail(
                pos, f"{tag}: unknown helper {words[0]!r}; the helpers are json, #if, #unless, #each, #with"
            )
        self._add(kind, tag, words[-1], trim, pos)

    def _open(self, tag: str, body: str, trim: tuple[bool, bool], pos: int) -> None:
        words = _WORD.findall(body)
        name = words[0] if words else ""
        if name not in _BLOCK_HELPERS:
            self._fail(
                pos, f"{tag}: unknown block helper {name!r}; the blocks are #if, #unless, #each, #with"
            )
        if "as" in words:
            self._fail(pos, f"{tag}: block parameters are not supported; use {{{{this}}}} and {{{{@index}}}}")
        if len(words) != 2:
            self._fail(pos, f"{tag}: #{name} takes one value, e.g. {{{{#{name} summarize.text}}}}")
        node = self._add("open", tag, words[1], trim, pos, name=name)
        self.blocks.append(_OpenBlock(node, pos))

    def _else(self, tag: str, trim: tuple[bool, bool], pos: int) -> None:
        if not self.blocks:
            self._fail(pos, f"{tag} is outside any block; remove it or put it inside {{{{#if ...}}}}")
        if self.blocks[-1].in_else:
            self._fail(pos, f"second {tag} in {self.blocks[-1].node.text}; a block has at most one")
        self.blocks[-1].in_else = True
        self.nodes.append(_Node("else", tag, trim=trim))

    def _close(self, tag: str, name: str, trim: tuple[bool, bool], pos: int) -> None:
        if not self.blocks:
            self._fail(pos, f"{tag} closes no block; remove it or open the block before it")
        node = self.blocks[-1].node
        if name != node.name:
            self._fail(
                pos,
                f"{tag} does not match {node.text} opened at {self._where(self.blocks[-1].pos)}; "
                f"close that one first with {{{{/{node.name}}}}}",
            )
        self.blocks.pop()
        self.nodes.append(_Node("close", tag, name=name, trim=trim))

    def _add(
        self, kind: str, tag: str, word: str, trim: tuple[bool, bool], pos: int, name: str = ""
    ) -> _Node:
        # Only the main branch of #each/#with changes `this`: its {{else}} runs in the outer context.
        item_blocks = [b.node for b in self.blocks if b.node.name in _CONTEXT_BLOCKS and not b.in_else]
        path = self._path(word, tag, pos)
        if path.up > len(item_blocks):
            self._fail(
                pos,
                f"{tag} climbs above the scope: it is inside {len(item_blocks)} #each/#with block(s) "
                f"but goes up {path.up}; remove a ../",
            )
        if path.data and not any(n.name == "each" for n in item_blocks):
            self._fail(pos, f"{tag}: @{path.data} exists only inside {{{{#each}}}}")
        within = item_blocks[-1].text if item_blocks else ""
        node = _Node(kind, tag, path, name, trim, len(item_blocks), within)
        self.nodes.append(node)
        return node

    def _path(self, word: str, tag: str, pos: int) -> _Path:
        text, up = word, 0
        while word.startswith("../"):
            word, up = word[3:], up + 1
        if word in ("this", "."):
            return _Path(text, up)
        word = word.removeprefix("this.").removeprefix("this/").removeprefix("./")
        root = word == "@root" or word.startswith(("@root.", "@root/"))
        if root:
            word = word[6:]
        elif word.startswith("@"):
            if word[1:] not in _DATA_VARS or up:
                self._fail(pos, f"{tag}: unknown data variable; use @index, @key, @first, @last or @root")
            return _Path(text, data=word[1:])
        return _Path(text, up, root, segments=self._segments(word, tag, pos))

    def _segments(self, word: str, tag: str, pos: int) -> tuple[str, ...]:
        segments, at = [], 0
        while at < len(word):
            match = _SEGMENT.match(word, at)
            end = match.end() if match else at
            if match is None or (end < len(word) and (word[end] not in "./" or end + 1 == len(word))):
                self._fail(
                    pos, f"{tag}: {word!r} is not a path; write names joined by dots, e.g. summarize.text"
                )
            segments.append(match.group(1) or match.group(2))
            at = end + 1
        return tuple(segments)


def _root_name(node: _Node) -> str | None:
    path = node.path
    if path is None or path.data or not path.segments:
        return None
    return path.segments[0] if path.root or path.up == node.depth else None


# ---------------------------------------------------------------------------------------------
# Values: lookup and formatting, shared by both renderers.


class _Frame:
    """The context a path is resolved in at the top of the scope; pybars.Scope has the same fields."""

    __slots__ = ("context", "first", "index", "key", "last", "parent", "root")

    def __init__(self, scope: Mapping[str, Any]) -> None:
        self.context = self.root = scope
        self.parent = self.index = self.key = self.first = self.last = None


def _resolve(frame: Any, node: _Node, *, strict: bool) -> Any:
    path = node.path
    assert path is not None
    for _ in range(path.up):
        frame = frame.parent
    if path.data:
        return _data_variable(frame, path.data)
    value = frame.root if path.root else frame.context
    for number, segment in enumerate(path.segments):
        found, child = _child(value, segment)
        if not found:
            if strict:
                raise _Problem(_missing(node, number, value, frame.root))
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


def _emit(node: _Node, frame: Any) -> str:
    if node.kind == "literal":
        return node.text
    value = _resolve(frame, node, strict=True)
    if node.kind == "json":
        return json.dumps(value, indent=2, ensure_ascii=False, default=_json_default)
    return _to_text(value)


def _render_simple(nodes: tuple[_Node, ...], scope: Mapping[str, Any]) -> str:
    top = _Frame(scope)
    return "".join(node.text if node.kind == "text" else _emit(node, top) for node in nodes)


def _missing(node: _Node, number: int, parent: Any, root: Mapping[str, Any]) -> str:
    path = node.path
    assert path is not None
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


def _render_blocks(template: str, nodes: tuple[_Node, ...], scope: Mapping[str, Any]) -> str:
    render = _compiled.get(template)
    if render is None:
        with _compile_lock:  # pybars' compiler shares one code builder: never two compiles at once
            render = _compiled.get(template)
            if render is None:
                render = _compile(nodes)
                if len(_compiled) >= _CACHE_SIZE:
                    _compiled.pop(next(iter(_compiled)))
                _compiled[template] = render
    return render(scope)


def _compile(nodes: tuple[_Node, ...]) -> Callable[[Mapping[str, Any]], str]:
    import pybars  # about 0.36 s: paid only by templates with blocks

    try:
        function = pybars.Compiler().compile(_pybars_source(nodes))
    except pybars.PybarsError as error:  # our own parser accepted it: a gap between the two grammars
        raise _Problem(f"pybars could not compile the template: {error}") from None
    # pybars registers each template as a module; the function keeps its globals, so the
    # registration is dropped rather than left to grow with every compile.
    sys.modules.pop(function.__module__, None)
    helpers = _pybars_helpers(nodes, pybars)
    return lambda scope: function(scope, helpers=helpers)


def _pybars_source(nodes: Iterable[_Node]) -> str:
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


def _pybars_helpers(nodes: tuple[_Node, ...], pybars: Any) -> dict[str, Callable[..., Any]]:
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
