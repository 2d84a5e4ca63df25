"""The expressions of one Handlebars tag: helper name, params, ``key=value`` options, block
parameters, subexpressions, paths and literals, read from the tag's tokens."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, NoReturn

from airflow_provider_huggingface.prompts.syntax import DATA_VARS, VALUE_HELPERS, Call, Literal, Path

if TYPE_CHECKING:
    from airflow_provider_huggingface.prompts.parser import _Parser

_KEYWORDS = {"true": True, "false": False, "undefined": None, "null": None}


class Expressions:
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
