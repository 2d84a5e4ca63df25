"""Handlebars 4 syntax for prompt templates: one pass over the source gives a tree of programs
and blocks, with Handlebars' whitespace rules (standalone lines, ``~``) already applied to its
text, or a fault with its position. Both renderers of
:mod:`airflow_provider_huggingface.prompts.renderer` use the tree.

The parts, each a port of handlebars.js 4.7's: the tree and the language's names in
:mod:`~airflow_provider_huggingface.prompts.syntax`, the lexer (``handlebars.l``) in
:mod:`~airflow_provider_huggingface.prompts.lexer`, a tag's expressions in
:mod:`~airflow_provider_huggingface.prompts.expressions`, and its ``WhitespaceControl`` visitor in
:mod:`~airflow_provider_huggingface.prompts.whitespace`, so the text around tags is kept or
dropped exactly as there. This module reads the blocks and tags in order.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NoReturn

from airflow_provider_huggingface.prompts.expressions import Expressions
from airflow_provider_huggingface.prompts.lexer import EMU_END, OPENERS, Tokens
from airflow_provider_huggingface.prompts.syntax import (
    BLOCK_HELPERS,
    DATA_VARS,
    HASH_OPTIONS,
    VALUE_HELPERS,
    Block,
    Call,
    Comment,
    Literal,
    Parsed,
    Path,
    Program,
    TemplateProblem,
    Text,
    Value,
)
from airflow_provider_huggingface.prompts.whitespace import strip_whitespace

__all__ = [
    "BLOCK_HELPERS",
    "CACHE_SIZE",
    "DATA_VARS",
    "HASH_OPTIONS",
    "VALUE_HELPERS",
    "Block",
    "Call",
    "Comment",
    "Literal",
    "Parsed",
    "Path",
    "Program",
    "TemplateProblem",
    "Text",
    "Value",
    "parse",
]

CACHE_SIZE = 256


@lru_cache(maxsize=CACHE_SIZE)
def parse(template: str) -> Parsed:
    return _Parser(template).parse()


class _Open:
    """A block being parsed; ``program`` is where statements go now."""

    __slots__ = ("block", "chain", "pos", "program")

    def __init__(self, block: Block, pos: int) -> None:
        self.block, self.pos = block, pos
        self.program: Program = block.program or block.inverse  # type: ignore[assignment]
        self.chain: list[Block] = [block]  # the block, then each {{else if}} block

    def current(self) -> Block | None:
        """The block whose main program is being parsed; None in an {{else}} branch."""
        return next((b for b in self.chain if b.program is self.program), None)


class _Parser:
    def __init__(self, source: str) -> None:
        self.src = source
        self.top = Program()
        self.open: list[_Open] = []
        self.has_blocks = False
        self.roots: set[str] = set()
        self.spaced: set[int] = set()  # of the tag being parsed

    @property
    def body(self) -> list[Any]:
        return self.open[-1].program.body if self.open else self.top.body

    def parse(self) -> Parsed:
        pos = 0
        while (start := self.src.find("{{", pos)) >= 0:
            backslashes = len(self.src[pos:start]) - len(self.src[pos:start].rstrip("\\"))
            if backslashes == 1:  # \{{x}}: the tag is text, up to the next {{
                self._text(pos, start - 1)
                end = EMU_END.search(self.src, start + 2)
                stop = end.start() if end else len(self.src)
                self.body.append(Text(self.src[start:stop]))
                pos = stop
                continue
            self._text(pos, start - (backslashes >= 2))  # \\{{x}}: a backslash, then the tag
            pos = self._tag(start)
        self._text(pos, len(self.src))
        if self.open:
            block = self.open[-1].block
            name = block.helper or block.params[0].text
            self.fail(
                self.open[-1].pos, f"{block.tag} is never closed; add {{{{/{name}}}}} after its content"
            )
        strip_whitespace(self.top, root=True)
        return Parsed(self.top, not self.has_blocks, frozenset(self.roots))

    def fail(self, pos: int, problem: str) -> NoReturn:
        raise TemplateProblem(f"{self._where(pos)}: {problem}")

    def _where(self, pos: int) -> str:
        line = self.src.count("\n", 0, pos) + 1
        return f"line {line}, column {pos - self.src.rfind(chr(10), 0, pos)}"

    def _text(self, start: int, end: int) -> None:
        if start < end:
            self.body.append(Text(self.src[start:end]))

    # -- tags ---------------------------------------------------------------------------------

    def _tag(self, start: int) -> int:
        opener = OPENERS.match(self.src, start)
        if opener is None:  # cannot happen: every part of the pattern is optional after {{
            self.fail(start, "unreadable tag")
        ltrim, kind = bool(opener.group(1)), opener.group(2) or opener.group(3)
        if kind == "!":
            return self._comment(start, ltrim)
        if kind in (">", "*") or self.src.startswith(("{{#>", "{{~#>", "{{#*", "{{~#*"), start):
            self.fail(start, "partials and decorators are not supported; write the text into the prompt")
        if kind == "{" and self.src.startswith("{{{{", start):
            self.fail(start, "raw blocks ({{{{raw}}}}) are not supported; escape a tag with \\{{ instead")
        tokens = Tokens(self, start, opener.end())
        tag, rtrim = tokens.read(triple=kind == "{")
        strip = (ltrim, rtrim)
        items = tokens.items
        self.spaced = tokens.spaced
        if kind in ("", "{", "&"):
            self._value(tag, items, strip, start)  # {{x}}, {{{x}}} and {{&x}} alike: no escaping
        elif kind == "#":
            self._open(tag, items, strip, start, inverted=False)
        elif kind == "^" and items:
            self._open(tag, items, strip, start, inverted=True)
        elif kind == "^" or (kind == "else" and not items):
            self._else(tag, strip, start)
        elif kind == "else":
            self._else_chain(tag, items, strip, start)
        else:
            self._close(tag, items, strip, start)
        return tokens.pos

    def _comment(self, start: int, ltrim: bool) -> int:
        long = self.src.startswith("--", self.src.index("!", start) + 1)
        end = re.compile(r"--(~?)\}\}" if long else r"(~?)\}\}").search(self.src, start)
        if end is None:
            self.fail(start, "the comment is never closed; add " + ("--}}" if long else "}}"))
        self.body.append(Comment(self.src[start : end.end()], (ltrim, bool(end.group(1)))))
        return end.end()

    def _value(self, tag: str, items: list[tuple[str, str]], strip: Any, pos: int) -> None:
        parts = Expressions(self, tag, pos, items)
        head = parts.helper_name()
        params = parts.params()
        if parts.hash and not (isinstance(head, Path) and head.segments == ("log",)):
            self.fail(pos, f"{tag}: options (key=value) are only for #if and #unless (includeZero=true)")
        name = head.text if isinstance(head, Path) else ""
        bare_helper = isinstance(head, Path) and head.segments == (name,) and name in ("json", *BLOCK_HELPERS)
        if params or bare_helper:
            if name in BLOCK_HELPERS:
                self.fail(pos, f"{tag}: {name} is a block; write {{{{#{name} ...}}}}...{{{{/{name}}}}}")
            if name == "lookup" and len(params) != 2:
                self.fail(pos, f"{tag}: lookup takes an object and a key, e.g. {{{{lookup fetch.data key}}}}")
            if name == "json" and len(params) != 1:
                self.fail(pos, f"{tag}: json takes one value, e.g. {{{{json summarize}}}}")
            if name not in VALUE_HELPERS:
                self.fail(
                    pos,
                    f"{tag}: unknown helper {name or head.text!r}; the helpers are json, lookup, "
                    "log, #if, #unless, #each, #with",
                )
            expr: Any = Call(tag, name, tuple(params))
        else:
            expr = head if isinstance(head, (Path, Call)) else _literal_path(head)
        self._note_roots(expr)
        changing = self._changing()
        self.body.append(Value(tag, expr, strip, changing[-1].tag if changing else "", len(changing)))

    def _open(self, tag: str, items: list[tuple[str, str]], strip: Any, pos: int, *, inverted: bool) -> None:
        block = self._block(tag, items, strip, pos)
        if inverted:  # {{^x}}: the first program is the inverse
            block.program, block.inverse = None, block.program
        self.body.append(block)
        self.open.append(_Open(block, pos))
        self.has_blocks = True

    def _block(self, tag: str, items: list[tuple[str, str]], strip: Any, pos: int) -> Block:
        parts = Expressions(self, tag, pos, items)
        head = parts.helper_name()
        params = parts.params()
        block_params = parts.block_params()
        name = head.text if isinstance(head, Path) else ""
        if isinstance(head, Path) and head.segments == (name,) and name in BLOCK_HELPERS and not head.param:
            if len(params) != 1:
                self.fail(pos, f"{tag}: #{name} takes one value, e.g. {{{{#{name} summarize.text}}}}")
            allowed = HASH_OPTIONS.get(name, ())
            for key in parts.hash:
                if key not in allowed:
                    hint = f"#{name} takes {', '.join(allowed)}" if allowed else f"#{name} takes none"
                    self.fail(pos, f"{tag}: unknown option {key!r}; {hint}")
            block = Block(tag, name, tuple(params), parts.hash)
        elif params or parts.hash or isinstance(head, Call):
            self.fail(
                pos,
                f"{tag}: unknown block helper {name or head.text!r}; the blocks are #if, #unless, #each, "
                "#with, and #name for a Mustache section",
            )
        else:
            block = Block(tag, "", (head if isinstance(head, Path) else _literal_path(head),), {})
        block.open_strip = strip
        block.block_params = block_params
        for param in (*block.params, *block.hash.values()):
            self._note_roots(param)
        return block

    def _else(self, tag: str, strip: Any, pos: int) -> None:
        opened = self._innermost(tag, pos)
        last = opened.chain[-1]
        if last.program is not None and last.inverse is not None:
            self.fail(pos, f"second {tag} in {opened.block.tag}; a block has at most one")
        last.inverse_strip = strip
        if last.program is None:  # {{^x}}A{{else}}B: B runs when A does not
            last.program = opened.program = Program()
        else:
            last.inverse = opened.program = Program()

    def _else_chain(self, tag: str, items: list[tuple[str, str]], strip: Any, pos: int) -> None:
        """``{{else if y}}``: the rest of the block is the inverse, holding one more block."""
        opened = self._innermost(tag, pos)
        last = opened.chain[-1]
        if last.inverse is not None or last.program is None:
            self.fail(pos, f"{tag} after {{{{else}}}} in {opened.block.tag}; {{{{else}}}} must come last")
        last.inverse_strip = strip
        last.inverse = Program()
        last.inverse.chained = True
        opened.program = last.inverse  # its block's parameters are seen in the else branch
        block = self._block(tag, items, (False, strip[1]), pos)
        last.inverse.body.append(block)
        opened.chain.append(block)
        opened.program = block.program or Program()  # a block made by _block has its program

    def _close(self, tag: str, items: list[tuple[str, str]], strip: Any, pos: int) -> None:
        if not self.open:
            self.fail(pos, f"{tag} closes no block; remove it or open the block before it")
        opened = self.open[-1]
        block = opened.block
        name = block.helper or block.params[0].text
        written = "".join(text for _, text in items)
        if written != name:
            self.fail(
                pos,
                f"{tag} does not match {block.tag} opened at {self._where(opened.pos)}; "
                f"close that one first with {{{{/{name}}}}}",
            )
        # Each block of an else chain ends here, with this tag's ~ (handlebars' prepareBlock).
        for chained in opened.chain:
            chained.close_strip = strip
        self.open.pop()

    def _innermost(self, tag: str, pos: int) -> _Open:
        if not self.open:
            self.fail(pos, f"{tag} is outside any block; remove it or put it inside {{{{#if ...}}}}")
        return self.open[-1]

    def _changing(self) -> list[Block]:
        """The blocks around this point that may give ``this`` a new value."""
        blocks = (opened.current() for opened in self.open)
        return [b for b in blocks if b is not None and b.helper in ("each", "with", "")]

    def _note_roots(self, expr: Any) -> None:
        """Record the names a path may take from the top of the scope (for referenced_roots)."""
        if isinstance(expr, Call):
            for param in expr.params:
                self._note_roots(param)
            return
        if not isinstance(expr, Path) or expr.data or expr.param or not expr.segments:
            return
        changing = self._changing()
        # A section keeps `this` when its value is true, so names inside it may be top names.
        if expr.root or expr.up >= len(changing) or any(not block.helper for block in changing):
            self.roots.add(expr.segments[0])

    def block_param(self, name: str) -> bool:
        return any(name in block.block_params for o in self.open if (block := o.current()) is not None)


def _literal_path(literal: Literal) -> Path:
    """``{{"a b"}}``, ``{{12}}``, ``{{true}}`` name keys, as in Handlebars (transformLiteralToPath)."""
    key = literal.text[1:-1] if literal.text[:1] in "\"'" else literal.text
    key = literal.value if isinstance(literal.value, str) else key
    return Path(literal.text, segments=(key,))
