"""Tokens to tree: the blocks and tags of a template, read in one pass over the lexer's tokens
into a tree of programs and blocks (the nodes of handlebars.js 4.7's AST that prompts can hold),
with Handlebars' whitespace rules (standalone lines, ``~``) applied to its text, or a fault with
its position. The names a template may take from the top of the scope are noted on the way.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NoReturn

from airflow_provider_huggingface.prompts.lexer import Tag, fail, lex, where
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
    Text,
    Value,
)
from airflow_provider_huggingface.prompts.whitespace import strip_whitespace

_KEYWORDS = {"true": True, "false": False, "undefined": None, "null": None}


@lru_cache(maxsize=256)
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
        self.roots: set[str] = set()

    @property
    def body(self) -> list[Any]:
        return self.open[-1].program.body if self.open else self.top.body

    def parse(self) -> Parsed:
        for token in lex(self.src):
            if isinstance(token, str):
                self.body.append(Text(token))
            else:
                self._tag(token)
        if self.open:
            block = self.open[-1].block
            name = block.helper or block.params[0].text
            self.fail(
                self.open[-1].pos, f"{block.tag} is never closed; add {{{{/{name}}}}} after its content"
            )
        strip_whitespace(self.top, root=True)
        return Parsed(self.top, frozenset(self.roots))

    def fail(self, pos: int, problem: str) -> NoReturn:
        fail(self.src, pos, problem)

    # -- tags ---------------------------------------------------------------------------------

    def _tag(self, tag: Tag) -> None:
        kind = tag.kind
        if kind == "!":
            self.body.append(Comment(tag.text, tag.strip))
        elif kind in ("", "{", "&"):
            self._value(tag)  # {{x}}, {{{x}}} and {{&x}} alike: no escaping
        elif kind == "#":
            self._open(tag, inverted=False)
        elif kind == "^" and tag.items:
            self._open(tag, inverted=True)
        elif kind == "^" or (kind == "else" and not tag.items):
            self._else(tag)
        elif kind == "else":
            self._else_chain(tag)
        else:
            self._close(tag)

    def _value(self, tag: Tag) -> None:
        parts = _Parts(self, tag)
        head = parts.helper_name()
        params = parts.params()
        text, pos = tag.text, tag.start
        if parts.hash and not (isinstance(head, Path) and head.segments == ("log",)):
            self.fail(pos, f"{text}: options (key=value) are only for #if and #unless (includeZero=true)")
        name = head.text if isinstance(head, Path) else ""
        bare_helper = isinstance(head, Path) and head.segments == (name,) and name in ("json", *BLOCK_HELPERS)
        if params or bare_helper:
            if name in BLOCK_HELPERS:
                self.fail(pos, f"{text}: {name} is a block; write {{{{#{name} ...}}}}...{{{{/{name}}}}}")
            if name == "lookup" and len(params) != 2:
                self.fail(
                    pos, f"{text}: lookup takes an object and a key, e.g. {{{{lookup fetch.data key}}}}"
                )
            if name == "json" and len(params) != 1:
                self.fail(pos, f"{text}: json takes one value, e.g. {{{{json summarize}}}}")
            if name not in VALUE_HELPERS:
                self.fail(
                    pos,
                    f"{text}: unknown helper {name or head.text!r}; the helpers are json, lookup, "
                    "log, #if, #unless, #each, #with",
                )
            expr: Any = Call(text, name, tuple(params))
        else:
            expr = head if isinstance(head, (Path, Call)) else _literal_path(head)
        self._note_roots(expr)
        changing = self._changing()
        self.body.append(Value(text, expr, tag.strip, changing[-1].tag if changing else "", len(changing)))

    def _open(self, tag: Tag, *, inverted: bool) -> None:
        block = self._block(tag)
        if inverted:  # {{^x}}: the first program is the inverse
            block.program, block.inverse = None, block.program
        self.body.append(block)
        self.open.append(_Open(block, tag.start))

    def _block(self, tag: Tag) -> Block:
        parts = _Parts(self, tag)
        head = parts.helper_name()
        params = parts.params()
        block_params = parts.block_params()
        text, pos = tag.text, tag.start
        name = head.text if isinstance(head, Path) else ""
        if isinstance(head, Path) and head.segments == (name,) and name in BLOCK_HELPERS and not head.param:
            if len(params) != 1:
                self.fail(pos, f"{text}: #{name} takes one value, e.g. {{{{#{name} summarize.text}}}}")
            allowed = HASH_OPTIONS.get(name, ())
            for key in parts.hash:
                if key not in allowed:
                    hint = f"#{name} takes {', '.join(allowed)}" if allowed else f"#{name} takes none"
                    self.fail(pos, f"{text}: unknown option {key!r}; {hint}")
            block = Block(text, name, tuple(params), parts.hash)
        elif params or parts.hash or isinstance(head, Call):
            self.fail(
                pos,
                f"{text}: unknown block helper {name or head.text!r}; the blocks are #if, #unless, #each, "
                "#with, and #name for a Mustache section",
            )
        else:
            block = Block(text, "", (head if isinstance(head, Path) else _literal_path(head),), {})
        block.open_strip = tag.strip
        block.block_params = block_params
        for param in (*block.params, *block.hash.values()):
            self._note_roots(param)
        return block

    def _else(self, tag: Tag) -> None:
        opened = self._innermost(tag)
        last = opened.chain[-1]
        if last.program is not None and last.inverse is not None:
            self.fail(tag.start, f"second {tag.text} in {opened.block.tag}; a block has at most one")
        last.inverse_strip = tag.strip
        if last.program is None:  # {{^x}}A{{else}}B: B runs when A does not
            last.program = opened.program = Program()
        else:
            last.inverse = opened.program = Program()

    def _else_chain(self, tag: Tag) -> None:
        """``{{else if y}}``: the rest of the block is the inverse, holding one more block."""
        opened = self._innermost(tag)
        last = opened.chain[-1]
        if last.inverse is not None or last.program is None:
            self.fail(
                tag.start, f"{tag.text} after {{{{else}}}} in {opened.block.tag}; {{{{else}}}} must come last"
            )
        last.inverse_strip = tag.strip
        last.inverse = Program()
        last.inverse.chained = True
        opened.program = last.inverse  # its block's parameters are seen in the else branch
        block = self._block(tag._replace(strip=(False, tag.strip[1])))
        last.inverse.body.append(block)
        opened.chain.append(block)
        opened.program = block.program or Program()  # a block made by _block has its program

    def _close(self, tag: Tag) -> None:
        if not self.open:
            self.fail(tag.start, f"{tag.text} closes no block; remove it or open the block before it")
        opened = self.open[-1]
        block = opened.block
        name = block.helper or block.params[0].text
        written = "".join(text for _, text in tag.items)
        if written != name:
            self.fail(
                tag.start,
                f"{tag.text} does not match {block.tag} opened at {where(self.src, opened.pos)}; "
                f"close that one first with {{{{/{name}}}}}",
            )
        # Each block of an else chain ends here, with this tag's ~ (handlebars' prepareBlock).
        for chained in opened.chain:
            chained.close_strip = tag.strip
        self.open.pop()

    def _innermost(self, tag: Tag) -> _Open:
        if not self.open:
            self.fail(
                tag.start, f"{tag.text} is outside any block; remove it or put it inside {{{{#if ...}}}}"
            )
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


class _Parts:
    """The expressions of one tag, read from its tokens: helper name, params, ``key=value``
    options, block parameters, subexpressions, paths and literals."""

    def __init__(self, parser: _Parser, tag: Tag) -> None:
        self.parser, self.tag, self.items, self.at = parser, tag, tag.items, 0
        self.hash: dict[str, Any] = {}

    def fail(self, problem: str) -> NoReturn:
        self.parser.fail(self.tag.start, f"{self.tag.text}: {problem}")

    def peek(self, offset: int = 0) -> tuple[str, str]:
        at = self.at + offset
        return self.items[at] if at < len(self.items) else ("", "")

    def take(self) -> tuple[str, str]:
        item = self.peek()
        self.at += 1
        return item

    def helper_name(self) -> Any:
        if not self.items:
            self.fail("the tag is empty; put a name inside, e.g. {{summarize.text}}")
        return self.expression()

    def params(self) -> list[Any]:
        params = []
        while self.at < len(self.items) and self.peek()[0] != "params":
            if self.peek(1) == ("punct", "="):
                key = self.take()[1]
                self.take()
                self.hash[key] = self.expression()
                continue
            if self.hash:
                self.fail("a value after key=value options; put the options last")
            params.append(self.expression())
        return params

    def block_params(self) -> tuple[str, ...]:
        if self.peek()[0] != "params":
            return ()
        self.take()
        names = []
        while self.peek()[0] == "id":
            names.append(self.take()[1])
        if self.take() != ("punct", "|") or not names or self.at != len(self.items):
            self.fail("block parameters are written as |name| or |item index|, last in the tag")
        return tuple(names)

    def expression(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            value = text[1:-1].replace("\\" + text[0], text[0])
            return Literal(text, value)
        if kind == "number":
            return Literal(text, float(text) if "." in text else int(text))
        if kind == "keyword":
            return Literal(text, _KEYWORDS[text])
        if (kind, text) == ("punct", "("):
            return self.subexpression()
        if kind in ("id", "punct") and text not in ("(", ")", "|", "="):
            return self.path(kind, text)
        self.fail(f"unexpected {text!r}" if text else "something is missing at the end")

    def subexpression(self) -> Call:
        start = self.at
        head = self.expression()
        params = []
        while self.peek() != ("punct", ")"):
            if not self.peek()[0]:
                self.fail("a ( is never closed; add )")
            params.append(self.expression())
        self.take()
        name = head.text if isinstance(head, Path) else ""
        text = "(" + " ".join(t for _, t in self.items[start : self.at - 1]) + ")"
        if name not in VALUE_HELPERS:
            self.fail(f"unknown helper {name or head.text!r} in {text}; the helpers are json, lookup")
        if (name == "lookup" and len(params) != 2) or (name == "json" and len(params) != 1):
            self.fail(f"{text}: wrong number of arguments")
        return Call(text, name, tuple(params))

    def path(self, kind: str, text: str) -> Path:
        data = False
        written = [text]
        if (kind, text) == ("punct", "@"):
            data = True
            kind, text = self.take()
            written.append(text)
        parts = [(kind, text)]
        spaced = self.tag.spaced
        while (
            self.peek()[0] == "punct" and self.peek()[1] in ("/", ".") and self.peek(1)[0] in ("id", "punct")
        ):
            if self.peek(1)[1] in ("(", ")", "|", "=", "@") or {self.at, self.at + 1} & spaced:
                break
            written.append(self.take()[1])
            parts.append(self.take())
            written.append(parts[-1][1])
        original = "".join(written)
        if self.peek()[1] in (".", "/", "..") and self.at not in spaced:
            self.fail(f"{original + self.peek()[1]!r} is not a path; write names joined by dots, e.g. a.b")
        segments: list[str] = []
        up = 0
        for kind_, part in parts:
            literal = part.startswith("[")
            name = part[1:-1].replace("\\]", "]") if literal else part
            if not literal and part in ("..", ".", "this"):
                if segments:
                    self.fail(f"invalid path {original!r}: {part} may only start a path")
                up += part == ".."
                continue
            if kind_ != "id" and not literal:
                self.fail(f"{original!r} is not a path; write names joined by dots, e.g. summarize.text")
            segments.append(name)
        if data:
            if not segments or segments[0] not in DATA_VARS:
                self.fail("unknown data variable; use @index, @key, @first, @last or @root")
            if segments[0] == "root":
                return Path(original, up, True, "", tuple(segments[1:]))
            if len(segments) > 1:
                self.fail(f"@{segments[0]} has no fields")
            return Path(original, up, data=segments[0])
        scoped = original.startswith(".") or re.match(r"this\b", original) is not None
        param = bool(segments) and not up and not scoped and self.parser.block_param(segments[0])
        return Path(original, up, False, "", tuple(segments), param)


def _literal_path(literal: Literal) -> Path:
    """``{{"a b"}}``, ``{{12}}``, ``{{true}}`` name keys, as in Handlebars (transformLiteralToPath)."""
    key = literal.text[1:-1] if literal.text[:1] in "\"'" else literal.text
    key = literal.value if isinstance(literal.value, str) else key
    return Path(literal.text, segments=(key,))
