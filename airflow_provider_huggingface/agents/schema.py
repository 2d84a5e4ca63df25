"""A plain Python function described as a tool for a chat model: its name, description and a JSON schema
of its parameters, from the signature, the type hints and the docstring; and arguments checked against
such a schema, in words the model can act on.

:func:`describe_function` is the entry point; :class:`~airflow_provider_huggingface.agents.tools.Tool`
builds on it. What cannot be described (a parameter without a type hint, ``*args``, a type with no JSON
form, a docstring naming a parameter the function lacks) is refused with a
:class:`~airflow_provider_huggingface.exceptions.ConfigurationError` naming the function, the parameter
and the fix, so a DAG file with such a tool fails when it is parsed.
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, Literal

from airflow_provider_huggingface.exceptions import ConfigurationError

__all__ = [
    "argument_problems",
    "arguments_validator",
    "check_parameters_schema",
    "check_tool_name",
    "describe_function",
    "usage",
]

# OpenAI's rule for function names; the router's providers, TGI, vLLM and llama.cpp accept these.
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_PARAM_FIELD = re.compile(r"^:param\s+(?:(?P<type>[^:]+?)\s+)?(?P<name>\w+)\s*:\s*(?P<text>.*)$")

# Schema problems named in one error message.
_MAX_PROBLEMS = 3
# The parameters' schema quoted in an error message, so the model can call the tool right next time.
_MAX_USAGE_CHARS = 1_500

_SUPPORTED = (
    "str, int, float, bool, list[...], dict[str, ...], Literal[...], or one of these | None (Optional[...])"
)


def describe_function(
    function: Callable[..., Any], *, name: str | None = None, description: str | None = None
) -> tuple[str, str, dict[str, Any]]:
    """A function's tool name, description and JSON schema of parameters (``type: object``).

    The name is the function's ``__name__``, the description its docstring's first paragraph, and
    the parameters come from its signature and type hints (``str``, ``int``, ``float``, ``bool``,
    ``list[...]``, ``dict[str, ...]``, ``Literal[...]`` as an enum, ``X | None``), with each
    ``:param x:`` line of the docstring as that parameter's description. Parameters without a
    default are required; a JSON-able default is given to the model; no other property is allowed. An
    object with ``__call__`` is described from that method.

    :param function: the function.
    :param name: the tool's name instead of the function's ``__name__``.
    :param description: the tool's description instead of the docstring's first paragraph.
    :raises ConfigurationError: naming what cannot be described and how to fix it.
    """
    label = _label(function)
    if not callable(function):
        raise ConfigurationError(
            f"{label} is not callable: a tool is a Python function (or a Tool), not its name or result."
        )
    if inspect.iscoroutinefunction(function):
        raise ConfigurationError(
            f"{label} is an async function: tools run in the task's own thread; make it a plain def."
        )
    tool_name = name if name is not None else getattr(function, "__name__", None)
    if tool_name is None:
        raise ConfigurationError(f"{label} has no __name__: pass name= to Tool.from_function.")
    check_tool_name(tool_name, what=f"The tool name {tool_name!r} of {label}", fix="pass name=")
    # An object with __call__: its method carries the hints and the docstring.
    described = function if inspect.isroutine(function) else type(function).__call__
    summary, param_docs = _parse_docstring(inspect.getdoc(described) or inspect.getdoc(function) or "")
    if description is None:
        if not summary:
            raise ConfigurationError(
                f"{label} has no docstring: the model learns what a tool does from its description. "
                "Give the function a docstring whose first paragraph says what it does and when to use "
                "it, or pass description=."
            )
        description = summary
    return tool_name, description, _parameters_schema(function, described, label, param_docs)


def check_parameters_schema(parameters: Any, *, tool: str) -> None:
    """Refuse tool parameters that are not a valid JSON schema of ``type: object``.

    :param parameters: the schema given for the tool.
    :param tool: the tool's name, for the message.
    """
    if not isinstance(parameters, dict) or parameters.get("type") != "object":
        raise ConfigurationError(
            f"The parameters of tool {tool!r} must be a JSON schema of type 'object' (a dict with "
            '"type": "object" and "properties"), the keyword arguments the function takes.'
        )
    import jsonschema

    try:
        jsonschema.validators.validator_for(parameters).check_schema(parameters)
    except jsonschema.SchemaError as exc:
        raise ConfigurationError(
            f"The parameters of tool {tool!r} are not a valid JSON schema: {exc.message}."
        ) from None


def arguments_validator(parameters: dict[str, Any]) -> Any:
    """A ``jsonschema`` validator of arguments against a tool's (checked) parameters, to keep and reuse."""
    import jsonschema

    return jsonschema.validators.validator_for(parameters)(parameters)


def argument_problems(validator: Any, arguments: Any) -> str | None:
    """What is wrong with these arguments, in words for the model; None if they fit.

    :param validator: from :func:`arguments_validator`.
    :param arguments: the arguments as parsed from the model's JSON.
    """
    if not isinstance(arguments, dict):
        return f"they must be a JSON object, not {_json_type(arguments)}"
    errors = sorted(validator.iter_errors(arguments), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return None
    # Up to three, so the model can fix them in one go.
    problems = "; ".join(_problem(error) for error in errors[:_MAX_PROBLEMS])
    more = f" (and {len(errors) - _MAX_PROBLEMS} more problem(s))" if len(errors) > _MAX_PROBLEMS else ""
    return problems + more


def usage(name: str, parameters: dict[str, Any]) -> str:
    """A tool's parameters quoted for the model after a call that did not fit them (cut when long)."""
    text = json.dumps(parameters, ensure_ascii=False)
    if len(text) > _MAX_USAGE_CHARS:
        text = text[: _MAX_USAGE_CHARS - 3] + "..."
    return f"The parameters of {name} (JSON schema): {text}"


def _parameters_schema(
    function: Callable[..., Any], described: Callable[..., Any], label: str, param_docs: dict[str, str]
) -> dict[str, Any]:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"The signature of {label} cannot be read ({exc}): wrap it in a def."
        ) from None
    try:
        hints = typing.get_type_hints(described)
    except NameError as exc:
        raise ConfigurationError(
            f"The type hints of {label} name something its module does not define ({exc}): define or "
            "import the types it names at the top of the DAG file."
        ) from None
    except Exception as exc:
        raise ConfigurationError(
            f"The type hints of {label} cannot be read ({type(exc).__name__}: {exc}): make the tool a plain "
            "def function."
        ) from None
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in signature.parameters.values():
        where = f"parameter {parameter.name!r} of {label}"
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            star = "*" if parameter.kind is parameter.VAR_POSITIONAL else "**"
            raise ConfigurationError(
                f"The {where} is {star}{parameter.name}: the model can only send named arguments that the "
                "schema lists. Replace it with named, typed parameters."
            )
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise ConfigurationError(
                f"The {where} is positional-only: the model's arguments are passed by name. Remove the / "
                "from the signature."
            )
        if parameter.name not in hints:
            raise ConfigurationError(
                f"The {where} has no type annotation: the model must be told what to send. Annotate it "
                f"with {_SUPPORTED}."
            )
        try:
            schema = _type_schema(hints[parameter.name])
        except _Undescribable as exc:
            raise ConfigurationError(
                f"The {where} cannot be described to the model: {exc}. Annotate it with {_SUPPORTED}."
            ) from None
        if parameter.default is parameter.empty:
            required.append(parameter.name)
        else:
            if parameter.default is None:
                schema = _nullable(schema)  # `x: str = None` accepts None, so the model may send null
            default = _json_value(parameter.default)
            if default is not _NOT_JSON:
                schema["default"] = default
        if parameter.name in param_docs:
            schema = {"description": param_docs.pop(parameter.name), **schema}
        properties[parameter.name] = schema
    if param_docs:
        stray = ", ".join(sorted(param_docs))
        raise ConfigurationError(
            f"The docstring of {label} describes :param {stray}:, which the function does not have: "
            "fix the docstring, so the model is not told about a parameter that does not exist."
        )
    schema_dict: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema_dict["required"] = required
    schema_dict["additionalProperties"] = False
    return schema_dict


class _Undescribable(Exception):
    """A type that has no JSON-schema description here."""


_NONE_TYPE = type(None)
_NOT_JSON = object()
_SCALARS: dict[Any, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}


def _type_schema(hint: Any) -> dict[str, Any]:
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint in (list, Sequence) or (origin in (list, Sequence) and not args):
        raise _Undescribable("a list needs its item type, e.g. list[str]")
    if origin in (list, Sequence):
        return {"type": "array", "items": _type_schema(args[0])}
    if hint is dict or (origin is dict and not args):
        return {"type": "object"}
    if origin is dict:
        if args[0] is not str:
            raise _Undescribable(f"JSON object keys are strings, so dict keys must be str, not {args[0]!r}")
        return {"type": "object", "additionalProperties": _type_schema(args[1])}
    if origin is Literal:
        return _literal_schema(args)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in args if arg is not _NONE_TYPE]
        schema = (
            _type_schema(options[0]) if len(options) == 1 else {"anyOf": [_type_schema(o) for o in options]}
        )
        return _nullable(schema) if len(options) < len(args) else schema
    if hint is typing.Any or hint is object:
        raise _Undescribable("Any says nothing the model can follow; name the type")
    raise _Undescribable(f"{_type_name(hint)} has no JSON form the model can send")


def _literal_schema(values: tuple[Any, ...]) -> dict[str, Any]:
    for value in values:
        if value is not None and type(value) not in (str, int, bool, float):
            raise _Undescribable(f"Literal value {value!r} is not a JSON string, number or boolean")
    schema: dict[str, Any] = {"enum": list(values)}
    kinds = {_SCALARS[type(value)] for value in values if value is not None}
    if len(kinds) == 1:
        kind = kinds.pop()
        schema = {"type": [kind, "null"] if None in values else kind, **schema}
    return schema


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str):
        schema = {**schema, "type": [kind, "null"]}
    elif isinstance(kind, list):
        schema = schema if "null" in kind else {**schema, "type": [*kind, "null"]}
    elif "anyOf" in schema:
        return (
            schema if {"type": "null"} in schema["anyOf"] else {"anyOf": [*schema["anyOf"], {"type": "null"}]}
        )
    elif "enum" not in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    if "enum" in schema and None not in schema["enum"]:
        schema = {**schema, "enum": [*schema["enum"], None]}
    return schema


def _json_value(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        return _NOT_JSON


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The first paragraph as one line, and each ``:param name:`` text (continuation lines joined)."""
    lines = [line.strip() for line in doc.strip().splitlines()]
    summary: list[str] = []
    for line in lines:
        if not line or line.startswith(":"):
            break
        summary.append(line)
    params: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        match = _PARAM_FIELD.match(line)
        if match:
            current = params.setdefault(match.group("name"), [])
            current.append(match.group("text"))
        elif not line or line.startswith(":"):
            current = None
        elif current is not None:
            current.append(line)
    return " ".join(summary), {name: " ".join(filter(None, text)) for name, text in params.items()}


def check_tool_name(name: Any, *, what: str, fix: str = "rename it") -> None:
    """Refuse a name the servers would refuse: ``what`` names it in the message, ``fix`` says how."""
    if not isinstance(name, str) or not _TOOL_NAME.match(name):
        raise ConfigurationError(
            f"{what} is not a valid tool name: use 1 to 64 letters, digits, '_' or '-' ({fix})."
        )


def _label(function: Any) -> str:
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    return f"tool function {name}" if name else f"tool object {type(function).__qualname__}"


def _type_name(hint: Any) -> str:
    return hint.__qualname__ if isinstance(hint, type) else repr(hint)


def _problem(error: Any) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    detail = error.message if len(error.message) <= 300 else error.message[:297] + "..."
    return f"at {where}: {detail}" if where else detail


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else type(value).__name__
