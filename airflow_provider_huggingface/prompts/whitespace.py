"""Whitespace control: a port of handlebars.js 4.7's ``compiler/whitespace-control.js``.

Standalone lines (a block tag or comment alone on its line) and ``~`` drop the text around
tags exactly as there; the parser applies it once to the whole tree."""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_huggingface.prompts.syntax import Block, Comment, Program, Text, Value


def strip_whitespace(program: Program, *, root: bool = False) -> None:
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
        strip_whitespace(block.program)
    if block.inverse is not None:
        strip_whitespace(block.inverse)
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
