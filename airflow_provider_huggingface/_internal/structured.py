"""Structured output: parse a reply as JSON and check it against the requested schema.

A request names how its reply is read (``ChatRequest.reader``): ``"json"`` (:func:`parse_reply`), or
``"choice"`` (:func:`parse_choice`, a branch's choice among ids). Named, not passed as a function,
so that a request handed to the triggerer is read there the same way.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, TypeGuard

from airflow_provider_huggingface.exceptions import StructuredOutputError

if TYPE_CHECKING:
    from airflow_provider_huggingface._internal.budget import Budget
    from airflow_provider_huggingface._internal.chat import ChatRequest, TokenUsage

# Models often wrap JSON in a Markdown fence, alone or after a sentence.
_FENCE = re.compile(r"```(?:json)?[ \t]*\n(?P<body>.*?)\n?```", re.DOTALL | re.IGNORECASE)
_MAX_DETAIL = 200
_QUOTES = "\"'`"


def wants_json(response_format: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    return response_format is not None and response_format.get("type") in (
        "json_object",
        "json_schema",
        "json",
    )


def schema_of(response_format: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema of an OpenAI-style (``json_schema.schema``) or TGI-style (``value``) format."""
    spec = response_format.get("json_schema")
    if isinstance(spec, dict) and isinstance(spec.get("schema"), dict):
        return spec["schema"]
    value = response_format.get("value")
    return value if isinstance(value, dict) else None


def parse_reply(text: str, response_format: dict[str, Any]) -> Any:
    """The reply as a JSON value that fits the schema, or a :class:`StructuredOutputError` saying why not."""
    match = _FENCE.search(text)
    body = match.group("body") if match else text
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        excerpt = body.strip()[:120]
        raise StructuredOutputError(
            f"The model's reply is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): "
            f"{excerpt!r}. Raise max_tokens if the reply was cut off (finish_reason 'length'), or use a "
            "model that supports structured output."
        ) from None
    schema = schema_of(response_format)
    if schema is not None:
        _validate(value, schema)
    elif response_format.get("type") == "json_object" and not isinstance(value, dict):
        raise StructuredOutputError(
            f"The model's reply is JSON but not an object: {_shorten(json.dumps(value))}. A JSON object "
            '({"key": value, ...}) was asked for: say which fields in the prompt.'
        )
    return value


def parse_choice(text: str, response_format: dict[str, Any]) -> Any:
    """A branch's reply: ``{"choice": id, "reason": ...}`` (``"choices"`` with several), as its schema says.

    Many models ignore ``response_format``: a reply that is exactly one allowed id (bare, quoted or
    in a code fence) is that choice. A valid choice is followed whatever its reason: a reason over
    the schema's ``maxLength`` is cut to it, not a cause to ask again.
    """
    schema = schema_of(response_format) or {}
    properties = schema.get("properties", {})
    several = "choices" in properties
    allowed = (properties["choices"]["items"] if several else properties.get("choice", {})).get("enum", [])
    match = _FENCE.search(text)
    bare = (match.group("body") if match else text).strip().strip(_QUOTES).strip()
    if bare in allowed:
        return {"choices": [bare], "reason": ""} if several else {"choice": bare, "reason": ""}
    value = parse_reply(text, {"type": "json_object"})
    limit = properties.get("reason", {}).get("maxLength")
    reason = value.get("reason")
    if isinstance(limit, int) and isinstance(reason, str) and len(reason) > limit:
        value = {**value, "reason": reason[: limit - 3].rstrip() + "..."}
    _validate(value, schema)
    return value


READERS = {"json": parse_reply, "choice": parse_choice}


def _validate(value: Any, schema: dict[str, Any]) -> None:
    import jsonschema

    validator_cls = jsonschema.validators.validator_for(schema)
    errors = sorted(validator_cls(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in errors[0].absolute_path)
        raise StructuredOutputError(
            f"The model's JSON does not fit the schema: at ${where}: {_shorten(errors[0].message)}"
            + (f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else "")
            + ". Describe the expected fields in the prompt, or use a model that supports structured output."
        )


def _shorten(detail: str) -> str:
    # jsonschema quotes the whole offending value, which can be huge and goes back to the model.
    return detail if len(detail) <= _MAX_DETAIL else detail[: _MAX_DETAIL - 3] + "..."


def reask(messages: list[dict[str, str]], reply: str, error: StructuredOutputError) -> list[dict[str, str]]:
    """The conversation that asks the model, once, to correct a reply that did not fit."""
    return [
        *messages,
        {"role": "assistant", "content": reply},
        {
            "role": "user",
            "content": f"That reply cannot be used: {error}\nAnswer again with only the JSON, nothing else.",
        },
    ]


def reask_request(
    request: ChatRequest, first: TokenUsage | None, error: StructuredOutputError, budget: Budget
) -> ChatRequest:
    """The re-ask's request, if the task's budget allows it: a further request under ``max_calls``,
    and under ``max_total_tokens`` room for the first call's tokens again (the re-ask's prompt repeats
    the first prompt and reply) and one more.

    :raises StructuredOutputError: the first call's, saying that the budget leaves no room to ask again.
    """
    spent = budget.spent()
    if spent is not None:
        raise StructuredOutputError(f"{error} Not asked again: {spent}. Raise the budget to allow a re-ask.")
    left = budget.tokens_left()
    if left is None:
        return request
    resent = first["total_tokens"] if first else 0
    if left - resent < 1:
        raise StructuredOutputError(
            f"{error} Not asked again: max_total_tokens={budget.max_total_tokens} leaves no room after the "
            f"first call's {resent} tokens (asking again resends them). Raise max_total_tokens, or lower "
            "max_tokens."
        )
    return request
