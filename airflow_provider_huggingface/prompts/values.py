"""Values as Handlebars sees them, with the project's documented differences: JavaScript's
truthiness (``#if``, ``#each``, ``lookup``) and a value as prompt text (strings as they are, JSON
for dicts and lists, ``{{json x}}`` with indent 2)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


def key_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    return "" if key is None else str(key)


class Json:
    """The value of ``{{json x}}``: formatted with indent 2."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def to_text(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return value
    if kind is int or kind is float:  # exact types first: the checks below are slower
        return str(value)
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Json):
        return json.dumps(value.value, indent=2, ensure_ascii=False, default=_json_default)
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


def js_falsy(value: Any) -> bool:
    """JavaScript's falsy values, as JSON data has them (``{}`` and ``[]`` are true there)."""
    if value is None or value is False:
        return True
    if isinstance(value, (str, bytes, bytearray)):  # not ==: an XCom object may compare oddly
        return not value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value == 0 or math.isnan(value)
    return False


def is_empty(value: Any) -> bool:
    """Handlebars' ``Utils.isEmpty``: falsy but not 0, or an empty list."""
    if isinstance(value, (list, tuple)):
        return not value
    return js_falsy(value) and not (isinstance(value, (int, float)) and value == 0 and value is not False)
