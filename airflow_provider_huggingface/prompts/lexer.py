"""Source to tokens: a template's text pieces and tags, as handlebars.js 4.7's lexer
(``handlebars.l``) reads them: the same token classes, literals, ``[...]`` segments, escapes
(``\\{{x}}``, ``\\\\{{x}}``) and comments. Faults carry their line and column."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple, NoReturn

from airflow_provider_huggingface.prompts.syntax import TemplateProblem

if TYPE_CHECKING:
    from collections.abc import Iterator

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
_OPENER = re.compile(r"\{\{(~?)(?:\s*(else)\b|([#/^&{!>*]?))")
_EMU_END = re.compile(r"\{\{|\\\{\{|\\\\\{\{")


class Tag(NamedTuple):
    """One ``{{...}}``: ``kind`` is what follows ``{{`` (``""``, ``{``, ``&``, ``#``, ``^``, ``/``,
    ``else``, or ``!`` for a comment) and ``items`` its tokens as ``(class, text)``."""

    start: int
    end: int
    kind: str
    text: str  # as written, for messages
    items: tuple[tuple[str, str], ...]
    spaced: frozenset[int]  # the items with white space before them
    strip: tuple[bool, bool]  # ~ after {{ and before }}


def lex(src: str) -> Iterator[str | Tag]:
    """The template's text pieces (strings) and tags, in order. A text piece that follows an
    escape is a piece of its own, as in Handlebars (whitespace control sees the pieces)."""
    pos = 0
    while (start := src.find("{{", pos)) >= 0:
        backslashes = len(src[pos:start]) - len(src[pos:start].rstrip("\\"))
        if backslashes == 1:  # \{{x}}: the tag is text, up to the next {{
            if pos < start - 1:
                yield src[pos : start - 1]
            end = _EMU_END.search(src, start + 2)
            pos = end.start() if end else len(src)
            yield src[start:pos]
            continue
        if pos < start - (backslashes >= 2):  # \\{{x}}: a backslash, then the tag
            yield src[pos : start - (backslashes >= 2)]
        tag = _tag(src, start)
        yield tag
        pos = tag.end
    if pos < len(src):
        yield src[pos:]


def where(src: str, pos: int) -> str:
    line = src.count("\n", 0, pos) + 1
    return f"line {line}, column {pos - src.rfind(chr(10), 0, pos)}"


def fail(src: str, pos: int, problem: str) -> NoReturn:
    raise TemplateProblem(f"{where(src, pos)}: {problem}")


def _tag(src: str, start: int) -> Tag:
    opener = _OPENER.match(src, start)
    if opener is None:  # cannot happen: every part of the pattern is optional after {{
        fail(src, start, "unreadable tag")
    ltrim, kind = bool(opener.group(1)), opener.group(2) or opener.group(3)
    if kind == "!":
        return _comment(src, start, ltrim)
    if kind in (">", "*") or src.startswith(("{{#>", "{{~#>", "{{#*", "{{~#*"), start):
        fail(src, start, "partials and decorators are not supported; write the text into the prompt")
    if kind == "{" and src.startswith("{{{{", start):
        fail(src, start, "raw blocks ({{{{raw}}}}) are not supported; escape a tag with \\{{ instead")
    return _read(src, start, opener.end(), kind, ltrim)


def _comment(src: str, start: int, ltrim: bool) -> Tag:
    long = src.startswith("--", src.index("!", start) + 1)
    end = re.compile(r"--(~?)\}\}" if long else r"(~?)\}\}").search(src, start)
    if end is None:
        fail(src, start, "the comment is never closed; add " + ("--}}" if long else "}}"))
    return Tag(start, end.end(), "!", src[start : end.end()], (), frozenset(), (ltrim, bool(end.group(1))))


def _read(src: str, start: int, pos: int, kind: str, ltrim: bool) -> Tag:
    """The tokens of a tag up to its closing ``}}``."""
    triple = kind == "{"
    items: list[tuple[str, str]] = []
    spaced: set[int] = set()
    while True:
        match = _TOKEN.match(src, pos)
        if match is None:
            if pos >= len(src) or "}}" not in src[pos:] or src.startswith("{{", pos):
                close = "}}}" if triple else "}}"
                fail(src, start, f"the tag {_opening(src, start)!r} is never closed; add {close}")
            fail(src, pos, f"{src[start : pos + 1]!r}: unexpected {src[pos]!r} in a tag")
        pos = match.end()
        token = match.lastgroup or ""
        if token == "space":
            spaced.add(len(items))
            continue
        if token == "close":
            text = match.group()
            if not triple and text.startswith("}~"):
                fail(src, pos, f"{_opening(src, start)!r}: unexpected }}~}}}} in a tag")
            if not triple and text.endswith("}}}"):  # {{x}}}: the third } is text
                pos -= 1
                text = text[:-1]
            if triple and not (text.startswith("}~") or text.endswith("}}}")):
                fail(src, start, f"the tag {_opening(src, start)!r} is never closed; add }}}}}}")
            strip = (ltrim, "~" in text)
            return Tag(start, pos, kind, src[start:pos], tuple(items), frozenset(spaced), strip)
        items.append((token, match.group()))


def _opening(src: str, start: int) -> str:
    return src[start : start + 20].split("\n")[0]
