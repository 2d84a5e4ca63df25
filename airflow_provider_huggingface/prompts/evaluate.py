"""Paths, literals and helper calls evaluated in a frame (``this``, its parents, the root and
``#each``'s data), and runs of text and values rendered: shared by both renderers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow_provider_huggingface.prompts.missing import lookup_missing, missing, missing_above
from airflow_provider_huggingface.prompts.syntax import Call, Literal, Path, TemplateProblem, Text, Value
from airflow_provider_huggingface.prompts.values import Json, js_falsy, key_text, to_text

# {{log}} writes to the logger of the renderer, where it always wrote.
_LOG = logging.getLogger("airflow_provider_huggingface.prompts.renderer")
_ABSENT = object()


class Frame:
    """A context a path is resolved in; pybars.Scope has the same fields."""

    __slots__ = ("context", "first", "index", "key", "last", "overrides", "parent", "root")

    def __init__(self, context: Any, parent: Any, root: Any, overrides: dict[str, Any] | None = None) -> None:
        self.context, self.parent, self.root, self.overrides = context, parent, root, overrides
        self.index = self.key = self.first = self.last = None


def evaluate(expr: Any, frame: Any, node: Any, *, strict: bool) -> Any:
    if isinstance(expr, Path):
        return _resolve(frame, expr, node, strict=strict)
    if isinstance(expr, Literal):
        return expr.value
    args = [evaluate(param, frame, node, strict=strict) for param in expr.params]
    if expr.helper == "log":  # Handlebars writes to the console; here the task log, and no text
        _LOG.info("%s: %s", expr.text, " ".join(map(to_text, args)))
        return ""
    if expr.helper == "json":
        return Json(args[0])
    return _lookup(args[0], args[1], expr, node, frame, strict=strict)


def _lookup(obj: Any, key: Any, call: Call, node: Any, frame: Any, *, strict: bool) -> Any:
    """Handlebars' ``lookup obj key``: a falsy ``obj`` is returned as it is."""
    if js_falsy(obj):
        if strict:
            raise TemplateProblem(lookup_missing(call, obj, key, node))
        return obj
    found, value = _child(obj, key_text(key))
    if not found and strict:
        raise TemplateProblem(lookup_missing(call, obj, key, node))
    return value


def _resolve(frame: Any, path: Path, node: Any, *, strict: bool) -> Any:
    if path.param:
        return _block_param(frame, path, node, strict=strict)
    for _ in range(path.up):
        frame = _parent(frame)
        if frame is None:
            if strict:
                raise TemplateProblem(missing_above(path, node))
            return None
    if path.data:
        found, value = _data_variable(frame, path.data)
        if not found and strict:
            raise TemplateProblem(
                f"{node.tag} resolves to nothing: @{path.data} exists only inside {{{{#each}}}}."
            )
        return value
    value = frame.root if path.root else frame.context
    start = 0
    # At the top of a run's scope the scope itself resolves the leading segments (task ids may
    # hold dots): see prompts/scope.py.
    if value is frame.root and path.segments and (resolve_path := getattr(value, "resolve_path", None)):
        start, value = resolve_path(path.segments)
    return _walk(value, path, node, start, frame, strict=strict)


def _walk(value: Any, path: Path, node: Any, start: int, frame: Any, *, strict: bool) -> Any:
    for number, segment in enumerate(path.segments[start:], start):
        found, child = _child(value, segment)
        if not found:
            if strict:
                raise TemplateProblem(missing(path, node, number, value, frame.root))
            return None
        value = child
    return value


def _block_param(frame: Any, path: Path, node: Any, *, strict: bool) -> Any:
    name = path.segments[0]
    while frame is not None and not (frame.overrides and name in frame.overrides):
        frame = frame.parent
    value = frame.overrides[name] if frame is not None else None
    return _walk(value, path, node, 1, frame, strict=strict) if frame is not None else None


def _parent(frame: Any) -> Any:
    """The frame of ``../``: the next one up whose context differs, as Handlebars' depths."""
    context = frame.context
    frame = frame.parent
    while frame is not None and _same(frame.context, context):
        frame = frame.parent
    return frame


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    scalar = (str, int, float, bool, type(None))
    return isinstance(a, scalar) and type(a) is type(b) and a == b


def _data_variable(frame: Any, name: str) -> tuple[bool, Any]:
    while frame is not None and frame.index is None:  # #with and sections lie between it and #each
        frame = frame.parent
    return (False, None) if frame is None else (True, getattr(frame, name))


def _child(value: Any, segment: str) -> tuple[bool, Any]:
    if type(value) is dict or isinstance(value, Mapping):
        return (True, value[segment]) if segment in value else (False, None)
    if isinstance(value, (list, tuple, str)):
        if segment == "length":
            return True, len(value)
        index = int(segment) if segment.isascii() and segment.isdigit() else len(value)
        return (True, value[index]) if index < len(value) else (False, None)
    if value is None or isinstance(value, (bytes, bytearray, int, float)) or segment.startswith("_"):
        return False, None
    attribute = getattr(value, segment, _ABSENT)
    return (False, None) if attribute is _ABSENT or callable(attribute) else (True, attribute)


def _value_of(node: Value, frame: Any) -> Any:
    return evaluate(node.expr, frame, node, strict=True)


def _emit(node: Value, frame: Any) -> str:
    return to_text(_value_of(node, frame))


def render_run(nodes: list[Text | Value], frame: Any) -> str:
    return "".join(node.value if isinstance(node, Text) else _emit(node, frame) for node in nodes)
