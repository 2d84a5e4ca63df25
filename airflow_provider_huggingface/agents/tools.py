"""Tools a chat model can call: their descriptions from Python functions, and one call run.

A :class:`Tool` is what the model is told (name, description, JSON-schema parameters; :meth:`Tool.spec`
is the OpenAI chat format that ``InferenceClient.chat_completion(tools=[...])`` takes) and the function
that runs it. :meth:`Tool.from_function` describes a plain function from its signature, type hints and
docstring, and refuses, when the DAG file is parsed, a function it cannot describe.

One call the model asked for runs in two steps, so that a loop can record the parsed arguments before
anything runs and a reviewer can change them: :func:`prepare` parses and checks the arguments
(:class:`PreparedCall`), :func:`run` calls the function. Whatever goes wrong on the model's side (an
unknown tool, arguments that are not JSON or do not fit, a tool that raises) is not an exception but a
:class:`ToolOutcome` whose ``text`` says what went wrong and how to call the tool right: it goes back
to the model as that call's result. Every outcome's text is cut at ``max_chars``
(:data:`MAX_RESULT_CHARS`, 16,000 characters, by default) with a note saying so, and has tokens and
Airflow's masked secrets removed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from airflow_provider_huggingface._internal.airflow_compat import AirflowFailException
from airflow_provider_huggingface._internal.error_mapping import redact
from airflow_provider_huggingface.exceptions import ConfigurationError

__all__ = [
    "MAX_RESULT_CHARS",
    "PreparedCall",
    "Tool",
    "ToolError",
    "ToolErrorKind",
    "ToolOutcome",
    "prepare",
    "resolve_tools",
    "run",
]

#: The longest text one tool call sends back to the model, its cut note included.
MAX_RESULT_CHARS = 16_000
# The shortest max_chars that still leaves room for a result beside the cut note.
_MIN_RESULT_CHARS = 200
# An exception's message fed back to the model: enough to act on, not a traceback's worth of tokens.
_MAX_EXCEPTION_CHARS = 500
# The parameters' schema quoted in an error message, so the model can call the tool right next time.
_MAX_USAGE_CHARS = 1_500
# Schema problems named in one error message.
_MAX_PROBLEMS = 3

# OpenAI's rule for function names; the router's providers, TGI, vLLM and llama.cpp accept these.
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_PARAM_FIELD = re.compile(r"^:param\s+(?:(?P<type>[^:]+?)\s+)?(?P<name>\w+)\s*:\s*(?P<text>.*)$")

ToolErrorKind = Literal["unknown_tool", "invalid_json", "invalid_arguments", "tool_error", "tool_raised"]
"""Why a call failed: no such tool; arguments that are not JSON; arguments that do not fit the
parameters; the tool refused them (it raised :class:`ToolError`); the tool raised anything else."""

_SUPPORTED = (
    "str, int, float, bool, list[...], dict[str, ...], Literal[...], or one of these | None (Optional[...])"
)


class ToolError(Exception):
    """Raised by a tool to tell the model why its call cannot be served, in the tool's own words.

    The message goes back to the model as the call's result, marked as an error, without the
    "the tool failed" wording that any other exception gets. The ready SQL and HTTP tools raise it for a
    refused statement or path and for an HTTP error status.
    """


@dataclasses.dataclass(frozen=True, kw_only=True)
class Tool:
    """One tool the model may call.

    :param name: what the model calls it by: letters, digits, ``_`` and ``-``, at most 64 characters.
    :param description: what it does and when to use it, for the model.
    :param parameters: a JSON schema of ``type: object`` describing its keyword arguments.
    :param function: the Python callable that runs it, called with the arguments as keywords.
    """

    name: str
    description: str
    parameters: dict[str, Any] = dataclasses.field(repr=False, hash=False)
    function: Callable[..., Any] = dataclasses.field(repr=False)

    def __post_init__(self) -> None:
        _check_name(self.name, what=f"The tool name {self.name!r}")
        if not callable(self.function):
            raise ConfigurationError(
                f"The function of tool {self.name!r} is {type(self.function).__name__}, not callable: "
                "pass the Python function that runs the tool."
            )
        if not isinstance(self.parameters, dict) or self.parameters.get("type") != "object":
            raise ConfigurationError(
                f"The parameters of tool {self.name!r} must be a JSON schema of type 'object' (a dict with "
                '"type": "object" and "properties"), the keyword arguments the function takes.'
            )
        import jsonschema

        try:
            jsonschema.validators.validator_for(self.parameters).check_schema(self.parameters)
        except jsonschema.SchemaError as exc:
            raise ConfigurationError(
                f"The parameters of tool {self.name!r} are not a valid JSON schema: {exc.message}."
            ) from None

    @classmethod
    def from_function(
        cls, function: Callable[..., Any], *, name: str | None = None, description: str | None = None
    ) -> Tool:
        """Describe a plain Python function as a tool.

        The name is the function's ``__name__``, the description its docstring's first paragraph, and
        the parameters come from its signature and type hints (``str``, ``int``, ``float``, ``bool``,
        ``list[...]``, ``dict[str, ...]``, ``Literal[...]`` as an enum, ``X | None``), with each
        ``:param x:`` line of the docstring as that parameter's description. Parameters without a
        default are required; a JSON-able default is given to the model. A parameter that cannot be
        described is refused with a :class:`ConfigurationError` naming it.

        :param function: the function; it is called with the model's arguments as keywords.
        :param name: the tool's name instead of the function's ``__name__``.
        :param description: the tool's description instead of the docstring's first paragraph.
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
        _check_name(tool_name, what=f"The tool name {tool_name!r} of {label}", fix="pass name=")
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
        parameters = _parameters_schema(function, described, label, param_docs)
        return cls(name=tool_name, description=description, parameters=parameters, function=function)

    def spec(self) -> dict[str, Any]:
        """The tool in the OpenAI chat format that ``chat_completion(tools=[...])`` takes."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": json.loads(json.dumps(self.parameters)),  # a copy the caller may change
            },
        }

    def check_arguments(self, arguments: Any) -> str | None:
        """What is wrong with these arguments for this tool, in words for the model; None if they fit."""
        if not isinstance(arguments, dict):
            return f"they must be a JSON object, not {_json_type(arguments)}"
        errors = sorted(
            self._validator.iter_errors(arguments), key=lambda e: [str(p) for p in e.absolute_path]
        )
        if not errors:
            return None
        # Up to three, so the model can fix them in one go.
        problems = "; ".join(_problem(error) for error in errors[:_MAX_PROBLEMS])
        more = f" (and {len(errors) - _MAX_PROBLEMS} more problem(s))" if len(errors) > _MAX_PROBLEMS else ""
        return problems + more

    @property
    def _validator(self) -> Any:
        validator = self.__dict__.get("_cached_validator")
        if validator is None:
            import jsonschema

            validator = jsonschema.validators.validator_for(self.parameters)(self.parameters)
            self.__dict__["_cached_validator"] = validator  # frozen: fields only, not this cache
        return validator


@dataclasses.dataclass(frozen=True, kw_only=True)
class PreparedCall:
    """A call whose tool exists and whose arguments parsed and fit its parameters: ready to run.

    :param call_id: the id the model gave the call (``tool_call_id`` of the answer); None if it gave none.
    :param tool: the tool to run.
    :param arguments: the arguments as parsed and checked (plain JSON values).
    """

    call_id: str | None
    tool: Tool
    arguments: dict[str, Any]

    @property
    def name(self) -> str:
        return self.tool.name


@dataclasses.dataclass(frozen=True, kw_only=True)
class ToolOutcome:
    """What one tool call gives back to the model. Every field is plain JSON.

    :param call_id: the id the model gave the call; None if it gave none.
    :param name: the tool's name as the model sent it (None if it sent none).
    :param arguments: the arguments as parsed (and, for a run, as the function got them); None when
        they could not be parsed.
    :param text: the ``tool`` message's content: the result, or what went wrong and how to call right.
    :param error: why the call failed (see :data:`ToolErrorKind`); None when the tool ran and returned.
    :param cut_chars: how many characters of the text were cut to fit ``max_chars``.
    """

    call_id: str | None
    name: str | None
    arguments: dict[str, Any] | None
    text: str
    error: ToolErrorKind | None = None
    cut_chars: int = 0

    @property
    def is_error(self) -> bool:
        return self.error is not None

    def as_message(self) -> dict[str, str]:
        """The ``tool`` message that answers the call in the conversation."""
        message = {"role": "tool", "content": self.text}
        if self.call_id is not None:
            message["tool_call_id"] = self.call_id
        return message


def resolve_tools(tools: Iterable[Tool | Callable[..., Any]] | None) -> dict[str, Tool]:
    """A task's ``tools=`` list (functions and/or :class:`Tool`\\ s) as a mapping of name to tool.

    :param tools: the list; functions are described with :meth:`Tool.from_function`.
    """
    if tools is None:
        return {}
    if isinstance(tools, str | bytes | Mapping | Tool) or callable(tools):
        raise ConfigurationError(
            f"tools must be a list of functions and Tools, not {type(tools).__name__}: "
            "write tools=[my_function, sql_tool(conn_id=...)]."
        )
    resolved: dict[str, Tool] = {}
    positions: dict[str, int] = {}
    for index, item in enumerate(tools):
        if isinstance(item, Tool):
            tool = item
        elif callable(item):
            tool = Tool.from_function(item)
        else:
            raise ConfigurationError(
                f"tools[{index}] is {type(item).__name__} {_short_repr(item)}, not a function or a Tool: "
                "pass the function itself (tools=[lookup_order]), not its name or its result."
            )
        if tool.name in resolved:
            raise ConfigurationError(
                f"tools[{positions[tool.name]}] and tools[{index}] are both named {tool.name!r}: the model "
                "calls tools by name. Give one another name (Tool.from_function(func, name=...), "
                "sql_tool(name=...), http_tool(name=...)) or list it once."
            )
        resolved[tool.name] = tool
        positions[tool.name] = index
    return resolved


def prepare(
    tools: Mapping[str, Tool],
    call: Any,
    *,
    max_chars: int = MAX_RESULT_CHARS,
    secrets: Iterable[str | None] = (),
) -> PreparedCall | ToolOutcome:
    """Parse and check one tool call the model sent; nothing runs yet.

    :param tools: the task's tools by name (:func:`resolve_tools`).
    :param call: one of the reply's ``message.tool_calls``: huggingface_hub's object or a dict of the
        same shape (``{"id", "function": {"name", "arguments"}}``). ``arguments`` may be JSON text or
        an already parsed object (TGI sends objects).
    :param max_chars: the longest error text.
    :param secrets: strings to remove from any text that goes back to the model.
    :return: the call ready to :func:`run`, or an error outcome to send back to the model instead.
    """
    call_id = _field(call, "id")
    call_id = None if call_id is None else str(call_id)
    function = _field(call, "function")
    name = _field(function, "name")
    raw = _field(function, "arguments")

    def failed(kind: ToolErrorKind, text: str, arguments: dict[str, Any] | None = None) -> ToolOutcome:
        return _outcome(call_id, name, arguments, text, kind, max_chars, secrets)

    tool = tools.get(name) if isinstance(name, str) else None
    if tool is None:
        known = ", ".join(sorted(tools)) or "(none)"
        return failed(
            "unknown_tool",
            f"Error: there is no tool named {name!r}. The tools are: {known}. Call one of them by its "
            "exact name, or answer without a tool.",
        )
    try:
        arguments = _parse_arguments(raw)
    except json.JSONDecodeError as exc:
        return failed(
            "invalid_json",
            f"Error: the arguments of this call to {tool.name} are not valid JSON ({exc.msg} at "
            f"character {exc.pos}). Send them as one JSON object. {_usage(tool)}",
        )
    problem = tool.check_arguments(arguments)
    if problem is not None:
        return failed(
            "invalid_arguments",
            f"Error: the arguments of this call to {tool.name} do not fit its parameters: {problem}. "
            f"{_usage(tool)}",
            arguments if isinstance(arguments, dict) else None,
        )
    return PreparedCall(call_id=call_id, tool=tool, arguments=arguments)


def run(
    prepared: PreparedCall,
    *,
    arguments: dict[str, Any] | None = None,
    max_chars: int = MAX_RESULT_CHARS,
    secrets: Iterable[str | None] = (),
) -> ToolOutcome:
    """Call the tool's function and turn what it returned, or raised, into the text for the model.

    A ``str`` result is sent as it is, anything else as JSON (``default=str``). An exception becomes an
    error outcome (a :class:`ToolError` with its message as it is, any other with its type and a short
    message), except ``AirflowFailException`` (and so the provider's ``ConfigurationError``), which a
    tool raises to fail the task, and ``BaseException``\\ s such as Airflow's task timeout.

    :param prepared: the call from :func:`prepare`.
    :param arguments: arguments to use instead of the prepared ones (a reviewer's edit); they are
        checked against the tool's parameters first, and an error outcome is returned if they do not fit.
    :param max_chars: the longest text; a longer one is cut and ends with a note saying how much was cut.
    :param secrets: strings to remove from the text, besides ``hf_`` tokens and Airflow's masked secrets.
    """
    tool = prepared.tool
    if arguments is None:
        arguments = prepared.arguments
    else:
        problem = tool.check_arguments(arguments)
        if problem is not None:
            return _outcome(
                prepared.call_id,
                tool.name,
                arguments if isinstance(arguments, dict) else None,
                f"Error: the arguments given for this call to {tool.name} do not fit its parameters: "
                f"{problem}. {_usage(tool)}",
                "invalid_arguments",
                max_chars,
                secrets,
            )

    def outcome(text: str, error: ToolErrorKind | None = None) -> ToolOutcome:
        return _outcome(prepared.call_id, tool.name, arguments, text, error, max_chars, secrets)

    try:
        result = tool.function(**arguments)
    except AirflowFailException:
        raise
    except ToolError as exc:
        return outcome(f"Error from {tool.name}: {_exception_text(exc)}", "tool_error")
    except Exception as exc:
        return outcome(
            f"Error: the tool {tool.name} failed: {type(exc).__name__}: {_exception_text(exc)}. Check the "
            "arguments, or answer without this tool.",
            "tool_raised",
        )
    return outcome(result_text(result))


def result_text(result: Any) -> str:
    """A tool's return value as the text of its ``tool`` message: a str as it is, anything else as JSON."""
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result, default=str, ensure_ascii=False)
    except (TypeError, ValueError):  # a circular structure: its str() is all that can be said
        return str(result)


# ---------------------------------------------------------------------------------------------
# Describing a function


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


def _check_name(name: Any, *, what: str, fix: str = "rename it") -> None:
    if not isinstance(name, str) or not _TOOL_NAME.match(name):
        raise ConfigurationError(
            f"{what} is not a valid tool name: use 1 to 64 letters, digits, '_' or '-' ({fix})."
        )


def _label(function: Any) -> str:
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    return f"tool function {name}" if name else f"tool object {type(function).__qualname__}"


def _type_name(hint: Any) -> str:
    return hint.__qualname__ if isinstance(hint, type) else repr(hint)


# ---------------------------------------------------------------------------------------------
# Calls and outcomes


def _field(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _parse_arguments(raw: Any) -> Any:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}  # a call of a tool without parameters; some servers send nothing at all
    if isinstance(raw, str | bytes):
        value = json.loads(raw)
        if isinstance(value, str):  # JSON text inside a JSON string, as some models send
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        return value
    return raw


def _usage(tool: Tool) -> str:
    schema = json.dumps(tool.parameters, ensure_ascii=False)
    if len(schema) > _MAX_USAGE_CHARS:
        schema = schema[: _MAX_USAGE_CHARS - 3] + "..."
    return f"The parameters of {tool.name} (JSON schema): {schema}"


def _exception_text(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return text if len(text) <= _MAX_EXCEPTION_CHARS else text[: _MAX_EXCEPTION_CHARS - 3] + "..."


def _outcome(
    call_id: str | None,
    name: Any,
    arguments: dict[str, Any] | None,
    text: str,
    error: ToolErrorKind | None,
    max_chars: int,
    secrets: Iterable[str | None],
) -> ToolOutcome:
    if max_chars < _MIN_RESULT_CHARS:
        raise ConfigurationError(f"max_chars is {max_chars}: give at least {_MIN_RESULT_CHARS} characters.")
    text, cut = _cut(_hide_secrets(text, secrets), max_chars)
    return ToolOutcome(
        call_id=call_id,
        name=name if isinstance(name, str) else None,
        arguments=arguments,
        text=text,
        error=error,
        cut_chars=cut,
    )


def _hide_secrets(text: str, secrets: Iterable[str | None]) -> str:
    # Before the cut: a token cut in half would no longer match its pattern.
    from airflow_provider_huggingface._internal import airflow_compat

    return redact(str(airflow_compat.redact(text)), secrets)


def _cut(text: str, max_chars: int) -> tuple[str, int]:
    """The text cut so that it and the note saying so fit in ``max_chars``; how many characters were cut."""
    if len(text) <= max_chars:
        return text, 0
    total = len(text)

    def note(kept: int) -> str:
        return f"\n[Result cut: the first {kept} of {total} characters are shown.]"

    kept = max_chars - len(note(max_chars))  # max_chars has at least as many digits as what is kept
    return text[:kept] + note(kept), total - kept


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


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
