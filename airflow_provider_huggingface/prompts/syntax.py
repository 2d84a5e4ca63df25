"""The tree a Handlebars prompt template parses into (the nodes of handlebars.js 4.7's AST that
prompts can hold), the names of its language (block and value helpers, data variables) and the
fault every stage raises."""

from __future__ import annotations

from typing import Any, NamedTuple

BLOCK_HELPERS = ("if", "unless", "each", "with")
VALUE_HELPERS = ("lookup", "json", "log")
DATA_VARS = ("index", "key", "first", "last", "root")
HASH_OPTIONS = {"if": ("includeZero",), "unless": ("includeZero",)}


class TemplateProblem(Exception):
    """A template fault; render_prompt and referenced_roots prefix the field name."""


class Path(NamedTuple):
    text: str  # as written, for messages
    up: int = 0  # leading ../
    root: bool = False  # @root.
    data: str = ""  # index, key, first or last for @index ...
    segments: tuple[str, ...] = ()  # a [a.b] segment is one segment, dots and all
    param: bool = False  # the first segment names a block parameter (as |x i|)


class Literal(NamedTuple):
    text: str
    value: Any


class Call(NamedTuple):
    """A helper with its arguments: ``lookup a b``, or a subexpression ``(lookup a b)``."""

    text: str
    helper: str
    params: tuple[Any, ...]  # Path, Literal or Call


class Text:
    """Template text (a ContentStatement); whitespace control shortens ``value``."""

    __slots__ = ("left_stripped", "original", "right_stripped", "value")

    def __init__(self, value: str) -> None:
        self.value = self.original = value
        self.left_stripped = self.right_stripped = False


class Value(NamedTuple):
    """``{{path}}``, ``{{{path}}}``, ``{{lookup a b}}``, ``{{json x}}``."""

    tag: str
    expr: Any  # Path or Call
    strip: tuple[bool, bool]  # ~ after {{ and before }}
    within: str  # the innermost block tag around it, for messages
    depth: int  # blocks that may change the context around it


class Comment(NamedTuple):
    tag: str
    strip: tuple[bool, bool]


class Program:
    __slots__ = ("body", "chained")

    def __init__(self) -> None:
        self.body: list[Any] = []
        self.chained = False  # the inverse of {{else if ...}}: one block, the rest of the chain


class Block:
    """``{{#helper params}}program{{else}}inverse{{/helper}}``; ``helper`` is "" for a Mustache
    section ``{{#path}}`` (Handlebars' blockHelperMissing), whose path is ``params[0]``."""

    __slots__ = (
        "block_params",
        "close_strip",
        "hash",
        "helper",
        "inverse",
        "inverse_strip",
        "open_strip",
        "params",
        "program",
        "tag",
    )

    def __init__(self, tag: str, helper: str, params: tuple[Any, ...], hash_: dict[str, Any]) -> None:
        self.tag, self.helper, self.params, self.hash = tag, helper, params, hash_
        self.block_params: tuple[str, ...] = ()
        self.program: Program | None = Program()
        self.inverse: Program | None = None
        self.open_strip = self.inverse_strip = self.close_strip = (False, False)


class Parsed(NamedTuple):
    program: Program
    roots: frozenset[str]  # the first segment of each path that may start at the top of the scope
