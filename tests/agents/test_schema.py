"""agents/schema.py: tool schemas from typed, docstringed functions (this module's annotations are
strings, as in a DAG file with ``from __future__ import annotations``), refusals at parse time, and
arguments checked against a schema."""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from typing import Literal

import pytest

from airflow_provider_huggingface.agents.schema import (
    argument_problems,
    arguments_validator,
    check_parameters_schema,
    describe_function,
    usage,
)
from airflow_provider_huggingface.exceptions import ConfigurationError
from tests.agents.sample_tools import lookup_order, refund


def everything(
    words: list[str],
    matrix: list[list[int]],
    scores: dict[str, float],
    anything: dict,
    choice: Literal["a", 1],
    either: int | str,
    maybe_either: int | str | None,
    listed: typing.List[bool],  # noqa: UP006
) -> None:
    """Take one of each supported type."""


def test_schema_of_a_typed_docstringed_function():
    assert describe_function(lookup_order) == (
        "lookup_order",
        "Look an order up by its number.",
        {
            "type": "object",
            "properties": {
                "order_id": {
                    "description": "the order's number, as the customer wrote it.",
                    "type": "integer",
                },
                "include_items": {
                    "description": "also list the order's items.",
                    "type": "boolean",
                    "default": False,
                },
            },
            "required": ["order_id"],
            "additionalProperties": False,
        },
    )


def test_schema_of_literals_and_optional_values():
    assert describe_function(refund)[2] == {
        "type": "object",
        "properties": {
            "order_id": {"description": "the order's number.", "type": "integer"},
            "amount": {"description": "how much to refund.", "type": "number"},
            "reason": {"description": "why.", "type": "string", "enum": ["damaged", "late", "other"]},
            "note": {"type": ["string", "null"], "default": None},
            "currency": {"type": ["string", "null"], "default": "EUR"},
            "tags": {"type": ["array", "null"], "items": {"type": "string"}, "default": None},
            "priority": {"type": "integer", "enum": [1, 2, 3], "default": 2},
        },
        "required": ["order_id", "amount", "reason"],
        "additionalProperties": False,
    }


def test_schema_of_lists_dicts_and_unions():
    assert describe_function(everything)[2]["properties"] == {
        "words": {"type": "array", "items": {"type": "string"}},
        "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
        "scores": {"type": "object", "additionalProperties": {"type": "number"}},
        "anything": {"type": "object"},
        "choice": {"enum": ["a", 1]},
        "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "maybe_either": {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]},
        "listed": {"type": "array", "items": {"type": "boolean"}},
    }


def test_optional_literal_and_defaults_that_are_not_json():
    def pick(
        mode: Literal["fast", "slow"] | None = None,
        marker: str = "x",
        when: object = None,  # refused below: object says nothing
    ) -> None:
        """Pick."""

    with pytest.raises(ConfigurationError, match="'when'"):
        describe_function(pick)

    sentinel = object()

    def pick2(mode: Literal["fast", "slow"] | None = None, marker: str = sentinel) -> None:  # type: ignore[assignment]
        """Pick."""

    assert describe_function(pick2)[2]["properties"] == {
        "mode": {"type": ["string", "null"], "enum": ["fast", "slow", None], "default": None},
        "marker": {"type": "string"},  # its default has no JSON form, so the model is not told it
    }


def test_name_and_description_can_be_given():
    assert describe_function(lookup_order, name="find-order", description="Find an order.")[:2] == (
        "find-order",
        "Find an order.",
    )


def test_a_callable_object_is_described_from_its_call_method():
    class Adder:
        def __call__(self, a: int, b: int = 1) -> int:
            """Add two numbers."""
            return a + b

    name, description, parameters = describe_function(Adder(), name="add")
    assert (name, description, parameters["required"]) == ("add", "Add two numbers.", ["a"])


# ---------------------------------------------------------------------------------------------
# Refusals when the DAG file is parsed


def no_annotation(order_id, note: str) -> None:  # type: ignore[no-untyped-def]
    """No annotation."""


def star_args(*orders: int) -> None:
    """Star args."""


def star_kwargs(order_id: int, **options: str) -> None:
    """Star kwargs."""


def positional_only(order_id: int, /, note: str) -> None:
    """Positional only."""


@dataclass
class Order:
    order_id: int


def class_instance(order: Order) -> None:
    """Takes an instance."""


def bare_list(order_ids: list) -> None:
    """A list without item type."""


def int_keys(totals: dict[int, float]) -> None:
    """Keys that JSON cannot have."""


def any_value(value: typing.Any) -> None:
    """Any."""


def nested_bad(orders: list[Order] | None = None) -> None:
    """An unsupported type inside a list."""


def stray_param(order_id: int) -> None:
    """Look up.

    :param order_id: the number.
    :param orderid: a typo.
    """


def undocumented(order_id: int) -> None:
    pass


@pytest.mark.parametrize(
    ("function", "parameter", "fix"),
    [
        (no_annotation, "'order_id'", "no type annotation"),
        (star_args, "'orders'", r"\*orders"),
        (star_kwargs, "'options'", r"\*\*options"),
        (positional_only, "'order_id'", "Remove the /"),
        (class_instance, "'order'", "Order has no JSON form"),
        (bare_list, "'order_ids'", r"list\[str\]"),
        (int_keys, "'totals'", "dict keys must be str"),
        (any_value, "'value'", "name the type"),
        (nested_bad, "'orders'", "Order has no JSON form"),
    ],
)
def test_undescribable_parameters_are_refused_naming_function_parameter_and_fix(function, parameter, fix):
    with pytest.raises(ConfigurationError, match=fix) as caught:
        describe_function(function)
    message = str(caught.value)
    assert function.__name__ in message
    assert f"parameter {parameter}" in message
    assert "Annotate" in message or "Remove" in message or "Replace" in message


def test_a_docstring_naming_a_missing_parameter_is_refused():
    with pytest.raises(ConfigurationError, match=r"stray_param describes :param orderid:"):
        describe_function(stray_param)


def test_a_function_without_docstring_is_refused_unless_described():
    with pytest.raises(ConfigurationError, match=r"undocumented has no docstring.*description="):
        describe_function(undocumented)
    assert describe_function(undocumented, description="Look an order up.")[1] == "Look an order up."


@pytest.mark.parametrize("name", ["", "look up", "a" * 65, "lookup.order", "<lambda>", "zé"])
def test_invalid_tool_names_are_refused(name):
    with pytest.raises(ConfigurationError, match="not a valid tool name"):
        describe_function(lookup_order, name=name)


def test_a_lambda_needs_a_name():
    with pytest.raises(ConfigurationError, match=r"'<lambda>'.*pass name="):
        describe_function(lambda order_id: order_id, description="x")


def test_async_functions_are_refused():
    async def fetch(order_id: int) -> None:
        """Fetch."""

    with pytest.raises(ConfigurationError, match=r"async function.*plain def"):
        describe_function(fetch)


def test_a_hint_naming_an_undefined_type_is_refused_clearly():
    # With string annotations, a type defined inside a function is not visible to get_type_hints.
    @dataclass
    class Local:
        x: int

    def uses_local(item: Local) -> None:
        """Uses a local type."""

    with pytest.raises(ConfigurationError, match="uses_local name something its module does not define"):
        describe_function(uses_local)


# ---------------------------------------------------------------------------------------------
# A schema given as it is, and arguments checked against one


def test_a_schema_must_be_a_valid_object_schema():
    with pytest.raises(ConfigurationError, match="tool 't' must be a JSON schema of type 'object'"):
        check_parameters_schema({"type": "string"}, tool="t")
    with pytest.raises(ConfigurationError, match="tool 't' are not a valid JSON schema"):
        check_parameters_schema({"type": "object", "required": "x"}, tool="t")
    check_parameters_schema(describe_function(refund)[2], tool="refund")


def test_argument_problems_in_words_for_the_model():
    validator = arguments_validator(describe_function(lookup_order)[2])
    assert argument_problems(validator, {"order_id": 42}) is None
    assert argument_problems(validator, ["x"]) == "they must be a JSON object, not an array"
    assert argument_problems(validator, {"order_id": "x"}) == "at order_id: 'x' is not of type 'integer'"


def test_usage_quotes_the_schema_cut_when_long():
    parameters = describe_function(lookup_order)[2]
    assert usage("lookup_order", parameters) == (
        f"The parameters of lookup_order (JSON schema): {json.dumps(parameters)}"
    )
    long = {"type": "object", "description": "x" * 5_000}
    text = usage("t", long)
    assert text.endswith("...")
    assert len(text) == len("The parameters of t (JSON schema): ") + 1_500
