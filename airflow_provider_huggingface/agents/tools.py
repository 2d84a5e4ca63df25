"""Tools a chat model can call, and one call run.

A :class:`Tool` is what the model is told (name, description, JSON-schema parameters; :meth:`Tool.spec`
is the OpenAI chat format that ``InferenceClient.chat_completion(tools=[...])`` takes) and the function
that runs it; :meth:`Tool.from_function` describes a plain typed function (see :mod:`.schema`).

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
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from airflow_provider_huggingface._internal.airflow_compat import AirflowFailException
from airflow_provider_huggingface._internal.error_mapping import redact
from airflow_provider_huggingface.agents import schema
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

ToolErrorKind = Literal["unknown_tool", "invalid_json", "invalid_arguments", "tool_error", "tool_raised"]
"""Why a call failed: no such tool; arguments that are not JSON; arguments that do not fit the
parameters; the tool refused them (it raised :class:`ToolError`); the tool raised anything else."""


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
        schema.check_tool_name(self.name, what=f"The tool name {self.name!r}")
        if not callable(self.function):
            raise ConfigurationError(
                f"The function of tool {self.name!r} is {type(self.function).__name__}, not callable: "
                "pass the Python function that runs the tool."
            )
        schema.check_parameters_schema(self.parameters, tool=self.name)

    @classmethod
    def from_function(
        cls, function: Callable[..., Any], *, name: str | None = None, description: str | None = None
    ) -> Tool:
        """Describe a plain Python function as a tool: its name, docstring and typed parameters, as
        :func:`~airflow_provider_huggingface.agents.schema.describe_function` reads them. A parameter
        that cannot be described is refused with a :class:`ConfigurationError` naming it.

        :param function: the function; it is called with the model's arguments as keywords.
        :param name: the tool's name instead of the function's ``__name__``.
        :param description: the tool's description instead of the docstring's first paragraph.
        """
        tool_name, description, parameters = schema.describe_function(
            function, name=name, description=description
        )
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
        validator = self.__dict__.get("_cached_validator")
        if validator is None:
            validator = schema.arguments_validator(self.parameters)
            self.__dict__["_cached_validator"] = validator  # frozen: fields only, not this cache
        return schema.argument_problems(validator, arguments)


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
            f"character {exc.pos}). Send them as one JSON object. {schema.usage(tool.name, tool.parameters)}",
        )
    problem = tool.check_arguments(arguments)
    if problem is not None:
        return failed(
            "invalid_arguments",
            f"Error: the arguments of this call to {tool.name} do not fit its parameters: {problem}. "
            f"{schema.usage(tool.name, tool.parameters)}",
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
                f"{problem}. {schema.usage(tool.name, tool.parameters)}",
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


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
