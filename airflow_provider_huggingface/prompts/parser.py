"""Handlebars 4 syntax for prompt templates: one pass over the source gives a tree of programs
and blocks, with Handlebars' whitespace rules (standalone lines, ``~``) already applied to its
text, or a fault with its position. Both renderers of
:mod:`airflow_provider_huggingface.prompts.renderer` use the tree.

The lexer follows handlebars.js 4.7's (``handlebars.l``): the same token classes, literals,
``[...]`` segments and escapes; :func:`_strip_whitespace` is a port of its
``WhitespaceControl`` visitor, so the text around tags is kept or dropped exactly as there.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NamedTuple, NoReturn

BLOCK_HELPERS = ("if", "unless", "each", "with")
VALUE_HELPERS = ("lookup", "json", "log")
DATA_VARS = ("index", "key", "first", "last", "root")
HASH_OPTIONS = {"if": ("includeZero",), "unless": ("includeZero",)}
CACHE_SIZE = 256


class TemplateProblem(Exception):
    """A template fault; render_prompt prefixes the field name."""


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
    simple: bool  # no blocks: rendered without pybars
    roots: frozenset[str]  # the first segment of each path that may start at the top of the scope


@lru_cache(maxsize=CACHE_SIZE)
def parse(template: str) -> Parsed:
    return _Parser(template).parse()


# The lexer's rules, as in handlebars.l.
_LOOKAHEAD = r"(?=[=~}\s/.)|])"
_LITERAL_LOOKAHEAD = r"(?=[~}\s)])"
_ID = r"[^\s!\"#%-,./;->@\[-^`{-~]+" + _LOOKAHEAD
_TOKEN = re.compile(
    "|".join(
        (
            r"(?P<space>\s+)",
            r"(?P<close>\}~\}\}|~?\}\}\}?)",
            r'(?P<string>"(?:\\"|[^"])*"|\'(?:\\\'|[^\'])*\')',
            r"(?P<number>-?[0-9]+(?:\.[0-9]+)?)" + _LITERAL_LOOKAHEAD,
            r"(?P<keyword>true|false|undefined|null)" + _LITERAL_LOOKAHEAD,
            r"(?P<params>as\s+\|)",
            r"(?P<punct>[()|=@]|\.\.|\.(?=[=~}\s/.)|])|[/.])",
            r"(?P<id>" + _ID + r"|\[(?:\\\]|[^\]])*\])",
        )
    )
)
_KEYWORDS = {"true": True, "false": False, "undefined": None, "null": None}
_OPENERS = re.compile(r"\{\{(~?)(?:\s*(else)\b|([#/^&{!>*]?))")
_EMU_END = re.compile(r"\{\{|\\\{\{|\\\\\{\{")


class _Tokens:
    def __init__(self, parser: _Parser, start: int, pos: int) -> None:
        self.parser, self.start, self.pos = parser, start, pos
        self.items: list[tuple[str, str]] = []
        self.spaced: set[int] = set()  # items with white space before them

    def read(self, triple: bool) -> tuple[str, bool]:
        """Tokens up to the closing ``}}``; returns the tag and whether it ends in ``~``."""
        src = self.parser.src
        while True:
            match = _TOKEN.match(src, self.pos)
            if match is None:
                if self.pos >= len(src) or "}}" not in src[self.pos :] or src.startswith("{{", self.pos):
                    end = "}}}" if triple else "}}"
                    self.parser.fail(self.start, f"the tag {self._opening()!r} is never closed; add {end}")
                self.parser.fail(
                    self.pos, f"{src[self.start : self.pos + 1]!r}: unexpected {src[self.pos]!r} in a tag"
                )
            self.pos = match.end()
            kind = match.lastgroup or ""
            if kind == "space":
                self.spaced.add(len(self.items))
                continue
            if kind == "close":
                text = match.group()
                if not triple and text.startswith("}~"):
                    self.parser.fail(self.pos, f"{self._opening()!r}: unexpected }}~}}}} in a tag")
                if not triple and text.endswith("}}}"):  # {{x}}}: the third } is text
                    self.pos -= 1
                    text = text[:-1]
                if triple and not (text.startswith("}~") or text.endswith("}}}")):
                    self.parser.fail(self.start, f"the tag {self._opening()!r} is never closed; add }}}}}}")
                return src[self.start : self.pos], "~" in text
            self.items.append((kind, match.group()))

    def _opening(self) -> str:
        return self.parser.src[self.start : self.start + 20].split("\n")[0]


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
                end = _EMU_END.search(self.src, start + 2)
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
        _strip_whitespace(self.top, root=True)
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
        opener = _OPENERS.match(self.src, start)
        if opener is None:  # cannot happen: every part of the pattern is optional after {{
            self.fail(start, "unreadable tag")
        ltrim, kind = bool(opener.group(1)), opener.group(2) or opener.group(3)
        if kind == "!":
            return self._comment(start, ltrim)
        if kind in (">", "*") or self.src.startswith(("{{#>", "{{~#>", "{{#*", "{{~#*"), start):
            self.fail(start, "partials and decorators are not supported; write the text into the prompt")
        if kind == "{" and self.src.startswith("{{{{", start):
            self.fail(start, "raw blocks ({{{{raw}}}}) are not supported; escape a tag with \\{{ instead")
        tokens = _Tokens(self, start, opener.end())
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
        parts = _Expressions(self, tag, pos, items)
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
        parts = _Expressions(self, tag, pos, items)
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


class _Expressions:
    """The parts of one tag: helper name, params, hash and block params."""

    def __init__(self, parser: _Parser, tag: str, pos: int, items: list[tuple[str, str]]) -> None:
        self.parser, self.tag, self.pos, self.items, self.at = parser, tag, pos, items, 0
        self.hash: dict[str, Any] = {}

    def fail(self, problem: str) -> NoReturn:
        self.parser.fail(self.pos, f"{self.tag}: {problem}")

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
        spaced = self.parser.spaced
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


# ---------------------------------------------------------------------------------------------
# Whitespace control: a port of handlebars.js 4.7's compiler/whitespace-control.js.


def _strip_whitespace(program: Program, *, root: bool = False) -> None:
    body = program.body
    for i, current in enumerate(body):
        strip = _strip_of(current)
        if strip is None:
            continue
        prev_ws, next_ws = _is_prev_whitespace(body, i, root), _is_next_whitespace(body, i, root)
        open_standalone = strip.get("open_standalone") and prev_ws
        close_standalone = strip.get("close_standalone") and next_ws
        inline_standalone = strip.get("inline_standalone") and prev_ws and next_ws
        if strip.get("close"):
            _omit_right(body, i, multiple=True)
        if strip.get("open"):
            _omit_left(body, i, multiple=True)
        if inline_standalone:
            _omit_right(body, i)
            _omit_left(body, i)
        if open_standalone:
            _omit_right((current.program or current.inverse).body, None)
            _omit_left(body, i)
        if close_standalone:
            _omit_right(body, i)
            _omit_left((current.inverse or current.program).body, None)


def _strip_of(node: Any) -> dict[str, Any] | None:
    if isinstance(node, Value):
        return {"open": node.strip[0], "close": node.strip[1]}
    if isinstance(node, Comment):
        return {"inline_standalone": True, "open": node.strip[0], "close": node.strip[1]}
    if isinstance(node, Block):
        return _block_strip(node)
    return None


def _block_strip(block: Block) -> dict[str, Any]:
    if block.program is not None:
        _strip_whitespace(block.program)
    if block.inverse is not None:
        _strip_whitespace(block.inverse)
    program = block.program or block.inverse or Program()  # a block always has one of them
    inverse = block.inverse if block.program is not None else None
    first_inverse, last_inverse = _chain_ends(inverse) if inverse is not None else (None, None)
    strip = {
        "open": block.open_strip[0],
        "close": block.close_strip[1],
        "open_standalone": _is_next_whitespace(program.body, None),
        "close_standalone": _is_prev_whitespace((first_inverse or program).body, None),
    }
    if block.open_strip[1]:
        _omit_right(program.body, None, multiple=True)
    if first_inverse is not None and last_inverse is not None:
        if block.inverse_strip[0]:
            _omit_left(program.body, None, multiple=True)
        if block.inverse_strip[1]:
            _omit_right(first_inverse.body, None, multiple=True)
        if block.close_strip[0]:
            _omit_left(last_inverse.body, None, multiple=True)
        if _is_prev_whitespace(program.body, None) and _is_next_whitespace(first_inverse.body, None):
            _omit_left(program.body, None)
            _omit_right(first_inverse.body, None)
    elif block.close_strip[0]:
        _omit_left(program.body, None, multiple=True)
    return strip


def _chain_ends(inverse: Program) -> tuple[Program, Program]:
    """The first and the last inverse program of an {{else if}} chain."""
    if not inverse.chained:
        return inverse, inverse
    last = inverse
    while last.chained:
        last = last.body[-1].program
    return inverse.body[0].program, last


_PREV_WS = re.compile(r"\r?\n\s*?\Z")
_PREV_WS_ROOT = re.compile(r"(^|\r?\n)\s*?\Z")
_NEXT_WS = re.compile(r"^\s*?\r?\n")
_NEXT_WS_ROOT = re.compile(r"^\s*?(\r?\n|\Z)")


def _is_prev_whitespace(body: list[Any], i: int | None, root: bool = False) -> bool:
    i = len(body) if i is None else i
    return _is_whitespace(body, i - 1, i - 2, root, (_PREV_WS, _PREV_WS_ROOT))


def _is_next_whitespace(body: list[Any], i: int | None, root: bool = False) -> bool:
    i = -1 if i is None else i
    return _is_whitespace(body, i + 1, i + 2, root, (_NEXT_WS, _NEXT_WS_ROOT))


def _is_whitespace(body: list[Any], at: int, beyond: int, root: bool, patterns: tuple[Any, Any]) -> bool:
    """Whether the text at ``at`` ends (or starts) a line, seen from a tag beside it."""
    if not 0 <= at < len(body):
        return root
    node = body[at]
    if not isinstance(node, Text):
        return False
    pattern = patterns[1] if root and not 0 <= beyond < len(body) else patterns[0]
    return pattern.search(node.original) is not None


_LEADING_SPACE, _LEADING_LINE = re.compile(r"^\s+"), re.compile(r"^[ \t]*\r?\n?")
_TRAILING_SPACE, _TRAILING_INDENT = re.compile(r"\s+\Z"), re.compile(r"[ \t]+\Z")


def _omit_right(body: list[Any], i: int | None, *, multiple: bool = False) -> None:
    at = 0 if i is None else i + 1
    current = body[at] if at < len(body) else None
    if not isinstance(current, Text) or (not multiple and current.right_stripped):
        return
    original = current.value
    current.value = (_LEADING_SPACE if multiple else _LEADING_LINE).sub("", original, count=1)
    current.right_stripped = current.value != original


def _omit_left(body: list[Any], i: int | None, *, multiple: bool = False) -> bool:
    at = len(body) - 1 if i is None else i - 1
    current = body[at] if at >= 0 else None
    if not isinstance(current, Text) or (not multiple and current.left_stripped):
        return False
    original = current.value
    current.value = (_TRAILING_SPACE if multiple else _TRAILING_INDENT).sub("", original, count=1)
    current.left_stripped = current.value != original
    return current.left_stripped
