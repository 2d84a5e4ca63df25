"""Why a path resolves to nothing: the error messages of strict rendering, naming what is
missing, the names in scope (with a close match) and the fix."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface.prompts.values import js_falsy, key_text, to_text

if TYPE_CHECKING:
    from airflow_provider_huggingface.prompts.syntax import Call, Path

_MAX_NAMES = 25  # names listed in an error message


def missing(path: Path, node: Any, number: int, parent: Any, root: Mapping[str, Any]) -> str:
    segment = path.segments[number]
    prefix = "../" * path.up + ("@root." if path.root else "")
    depth = getattr(node, "depth", 0)
    if number:
        where = f"{prefix}{'.'.join(path.segments[:number])}"
        detail = _no_child(f'"{where}"', where, parent, segment)
    elif path.root or path.up >= depth or parent is root:
        detail = f'no name "{segment}" in scope.{_did_you_mean(segment, root)}'
    else:
        detail = _no_child(f"the current item of {node.within}", "this", parent, segment)
        detail += f" Names from outside the block are ../{segment} or @root.{segment}."
    return (
        f"{node.tag} resolves to nothing: {detail} Names in scope: {_names(root)}. Fix the path, or "
        f"guard it with {{{{#if {path.text}}}}}...{{{{/if}}}} if the value may be absent."
    )


def missing_above(path: Path, node: Any) -> str:
    return f"{node.tag} resolves to nothing: {path.text} climbs above the top of the scope; remove a ../"


def lookup_missing(call: Call, obj: Any, key: Any, node: Any) -> str:
    if js_falsy(obj):
        detail = f"its object is {to_text(obj) or 'empty'!r}, so it has no {key_text(key)!r}."
    else:
        detail = _no_child("its object", "it", obj, key_text(key))
    return f"{node.tag} resolves to nothing: {call.text}: {detail}"


def _no_child(label: str, where: str, parent: Any, segment: str) -> str:
    if isinstance(parent, Mapping):
        return f'{label} has no key "{segment}" (keys: {_names(parent)}).{_did_you_mean(segment, parent)}'
    if isinstance(parent, (list, tuple)):
        if segment.isdigit():
            return f"{label} has {len(parent)} item(s), so index {segment} is past its end."
        return f'{label} is a list and "{segment}" is not an index; write e.g. {where}.0.{segment}.'
    if parent is None:
        return f'{label} is null, so it has no "{segment}".'
    return f'{label} is {_kind(parent)}, not a dict, so it has no "{segment}".'


def _kind(value: Any) -> str:
    kinds = (
        (bool, "a boolean"),
        (str, "a string"),
        ((int, float), "a number"),
        ((bytes, bytearray), "bytes"),
    )
    return next((name for cls, name in kinds if isinstance(value, cls)), f"a {type(value).__name__}")


def _names(mapping: Mapping[Any, Any]) -> str:
    names = [str(name) for name in islice(mapping, _MAX_NAMES)]
    return (", ".join(names) or "none") + (", ..." if len(mapping) > _MAX_NAMES else "")


def _did_you_mean(segment: str, mapping: Mapping[Any, Any]) -> str:
    import difflib  # only on the error path

    close = difflib.get_close_matches(segment, [str(name) for name in mapping], n=1)
    return f' Did you mean "{close[0]}"?' if close else ""
