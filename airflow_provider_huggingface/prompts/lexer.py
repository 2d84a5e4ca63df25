"""The tokens of a Handlebars tag, as handlebars.js 4.7's lexer (``handlebars.l``) reads them:
the same token classes, literals, ``[...]`` segments and escapes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_huggingface.prompts.parser import _Parser

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
OPENERS = re.compile(r"\{\{(~?)(?:\s*(else)\b|([#/^&{!>*]?))")
EMU_END = re.compile(r"\{\{|\\\{\{|\\\\\{\{")


class Tokens:
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
