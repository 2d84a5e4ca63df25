"""Handlebars syntax for prompt templates: one pass over the source gives the nodes that both
renderers of :mod:`airflow_provider_huggingface.prompts.renderer` share, or a fault with its position."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple, NoReturn

BLOCK_HELPERS = ("if", "unless", "each", "with")
CONTEXT_BLOCKS = ("each", "with")  # their body sees the item, not the outer context, as `this`
DATA_VARS = ("index", "key", "first", "last")
CACHE_SIZE = 256


class TemplateProblem(Exception):
    """A template fault; render_prompt prefixes the field name."""


class Path(NamedTuple):
    text: str  # as written, for messages
    up: int = 0  # leading ../
    root: bool = False  # @root.
    data: str = ""  # index, key, first or last for @index ...
    segments: tuple[str, ...] = ()


class Node(NamedTuple):
    kind: str  # text, literal (from \{{), value, json, open, else, close, comment
    text: str  # the text, or the tag as written
    path: Path | None = None
    name: str = ""  # the block helper of open and close
    trim: tuple[bool, bool] = (False, False)  # ~ after {{ and before }}
    depth: int = 0  # #each/#with bodies around the place the path is evaluated
    within: str = ""  # the innermost #each/#with tag around it, for messages


class Parsed(NamedTuple):
    nodes: tuple[Node, ...]
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


@lru_cache(maxsize=CACHE_SIZE)
def parse(template: str) -> Parsed:
    return _Parser(template).parse()


class _OpenBlock:
    __slots__ = ("in_else", "node", "pos")

    def __init__(self, node: Node, pos: int) -> None:
        self.node, self.pos, self.in_else = node, pos, False


class _Parser:
    def __init__(self, source: str) -> None:
        self.src = source
        self.nodes: list[Node] = []
        self.blocks: list[_OpenBlock] = []  # the blocks open at this point, innermost last
        self.braces = 0  # unclosed { of the text: a }} closing two of them is JSON, not a tag end

    def parse(self) -> Parsed:
        pos = 0
        while (match := _TAG_START.search(self.src, pos)) is not None:
            self._text(pos, match.start())
            start = match.end() - 2
            if len(match.group(1)) == 1:
                pos = self._escaped(start)
                continue
            if match.group(1):
                self.nodes.append(Node("text", "\\"))  # \\{{x}}: a backslash, then the tag
            pos = self._tag(start)
        self._text(pos, len(self.src))
        if self.blocks:
            node = self.blocks[-1].node
            self._fail(
                self.blocks[-1].pos,
                f"{node.text} is never closed; add {{{{/{node.name}}}}} after its content",
            )
        simple = all(node.kind in _SIMPLE_KINDS and node.trim == (False, False) for node in self.nodes)
        return Parsed(tuple(self.nodes), simple)

    def _where(self, pos: int) -> str:
        line = self.src.count("\n", 0, pos) + 1
        column = pos - self.src.rfind("\n", 0, pos)
        return f"line {line}, column {column}"

    def _fail(self, pos: int, problem: str) -> NoReturn:
        raise TemplateProblem(f"{self._where(pos)}: {problem}")

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
        self.nodes.append(Node("text", _CRLF.sub("\n", self.src[start:end])))

    def _escaped(self, start: int) -> int:
        end = self.src.find("}}", start + 2)
        end = len(self.src) if end < 0 else end + 2
        self.nodes.append(Node("literal", self.src[start:end]))
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
            self.nodes.append(Node("comment", tag, trim=trim))
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
        elif words[0] in BLOCK_HELPERS:
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
        if name not in BLOCK_HELPERS:
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
        self.nodes.append(Node("else", tag, trim=trim))

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
        self.nodes.append(Node("close", tag, name=name, trim=trim))

    def _add(self, kind: str, tag: str, word: str, trim: tuple[bool, bool], pos: int, name: str = "") -> Node:
        # Only the main branch of #each/#with changes `this`: its {{else}} runs in the outer context.
        item_blocks = [b.node for b in self.blocks if b.node.name in CONTEXT_BLOCKS and not b.in_else]
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
        node = Node(kind, tag, path, name, trim, len(item_blocks), within)
        self.nodes.append(node)
        return node

    def _path(self, word: str, tag: str, pos: int) -> Path:
        text, up = word, 0
        while word.startswith("../"):
            word, up = word[3:], up + 1
        if word in ("this", "."):
            return Path(text, up)
        word = word.removeprefix("this.").removeprefix("this/").removeprefix("./")
        root = word == "@root" or word.startswith(("@root.", "@root/"))
        if root:
            word = word[6:]
        elif word.startswith("@"):
            if word[1:] not in DATA_VARS or up:
                self._fail(pos, f"{tag}: unknown data variable; use @index, @key, @first, @last or @root")
            return Path(text, data=word[1:])
        return Path(text, up, root, segments=self._segments(word, tag, pos))

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


def root_name(node: Node) -> str | None:
    path = node.path
    if path is None or path.data or not path.segments:
        return None
    return path.segments[0] if path.root or path.up == node.depth else None
