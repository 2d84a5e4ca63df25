"""agents/tools.py: tool schemas from typed, docstringed functions (this module's annotations are
strings, as in a DAG file with ``from __future__ import annotations``), refusals at parse time, and one
tool call prepared and run, with every failure an outcome for the model."""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from typing import Literal, Optional

import pytest
from huggingface_hub import ChatCompletionOutputFunctionDefinition, ChatCompletionOutputToolCall

from airflow_provider_huggingface._internal.airflow_compat import AirflowFailException
from airflow_provider_huggingface.agents.tools import (
    MAX_RESULT_CHARS,
    PreparedCall,
    Tool,
    ToolError,
    ToolOutcome,
    prepare,
    resolve_tools,
    run,
)
from airflow_provider_huggingface.exceptions import ConfigurationError

TOKEN = "hf_" + "Q" * 34


def lookup_order(order_id: int, include_items: bool = False) -> dict:
    """Look an order up by its number.

    Returns the order's status and total. This paragraph is not part of the description.

    :param order_id: the order's number, as the customer
        wrote it.
    :param include_items: also list the order's items.
    :return: the order.
    """
    return {"order_id": order_id, "status": "shipped", "items": ["mug"] if include_items else None}


def refund(
    order_id: int,
    amount: float,
    reason: Literal["damaged", "late", "other"],
    note: str | None = None,
    currency: Optional[str] = "EUR",  # noqa: UP045 (the typing spelling is what is under test)
    tags: list[str] | None = None,
    priority: Literal[1, 2, 3] = 2,
) -> str:
    """Refund an order, in part or in full.

    :param str order_id: the order's number.
    :param amount: how much to refund.
    :param reason: why.
    """
    return f"refunded {amount} {currency} on order {order_id} ({reason})"


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
    assert Tool.from_function(lookup_order).spec() == {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look an order up by its number.",
            "parameters": {
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
        },
    }


def test_schema_of_literals_and_optional_values():
    assert Tool.from_function(refund).parameters == {
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
    assert Tool.from_function(everything).parameters["properties"] == {
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
        Tool.from_function(pick)

    sentinel = object()

    def pick2(mode: Literal["fast", "slow"] | None = None, marker: str = sentinel) -> None:  # type: ignore[assignment]
        """Pick."""

    assert Tool.from_function(pick2).parameters["properties"] == {
        "mode": {"type": ["string", "null"], "enum": ["fast", "slow", None], "default": None},
        "marker": {"type": "string"},  # its default has no JSON form, so the model is not told it
    }


def test_name_and_description_can_be_given():
    tool = Tool.from_function(lookup_order, name="find-order", description="Find an order.")
    assert (tool.name, tool.description) == ("find-order", "Find an order.")
    assert tool.spec()["function"]["name"] == "find-order"


def test_a_callable_object_is_described_from_its_call_method():
    class Adder:
        def __call__(self, a: int, b: int = 1) -> int:
            """Add two numbers."""
            return a + b

    tool = Tool.from_function(Adder(), name="add")
    assert tool.description == "Add two numbers."
    assert tool.parameters["required"] == ["a"]
    prepared = prepare({"add": tool}, {"id": "1", "function": {"name": "add", "arguments": '{"a": 2}'}})
    assert isinstance(prepared, PreparedCall)
    assert run(prepared).text == "3"


def test_spec_is_a_copy():
    tool = Tool.from_function(lookup_order)
    tool.spec()["function"]["parameters"]["properties"].clear()
    assert "order_id" in tool.spec()["function"]["parameters"]["properties"]


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
        Tool.from_function(function)
    message = str(caught.value)
    assert function.__name__ in message
    assert f"parameter {parameter}" in message
    assert "Annotate" in message or "Remove" in message or "Replace" in message


def test_a_docstring_naming_a_missing_parameter_is_refused():
    with pytest.raises(ConfigurationError, match=r"stray_param describes :param orderid:"):
        Tool.from_function(stray_param)


def test_a_function_without_docstring_is_refused_unless_described():
    with pytest.raises(ConfigurationError, match=r"undocumented has no docstring.*description="):
        Tool.from_function(undocumented)
    assert (
        Tool.from_function(undocumented, description="Look an order up.").description == "Look an order up."
    )


@pytest.mark.parametrize("name", ["", "look up", "a" * 65, "lookup.order", "<lambda>", "zé"])
def test_invalid_tool_names_are_refused(name):
    with pytest.raises(ConfigurationError, match="not a valid tool name"):
        Tool.from_function(lookup_order, name=name)


def test_a_lambda_needs_a_name():
    with pytest.raises(ConfigurationError, match=r"'<lambda>'.*pass name="):
        Tool.from_function(lambda order_id: order_id, description="x")


def test_async_functions_are_refused():
    async def fetch(order_id: int) -> None:
        """Fetch."""

    with pytest.raises(ConfigurationError, match=r"async function.*plain def"):
        Tool.from_function(fetch)


def test_a_hint_naming_an_undefined_type_is_refused_clearly():
    # With string annotations, a type defined inside a function is not visible to get_type_hints.
    @dataclass
    class Local:
        x: int

    def uses_local(item: Local) -> None:
        """Uses a local type."""

    with pytest.raises(ConfigurationError, match="uses_local name something its module does not define"):
        Tool.from_function(uses_local)


def test_a_tool_given_directly_is_checked():
    with pytest.raises(ConfigurationError, match="type 'object'"):
        Tool(name="t", description="d", parameters={"type": "string"}, function=print)
    with pytest.raises(ConfigurationError, match="not a valid JSON schema"):
        Tool(name="t", description="d", parameters={"type": "object", "required": "x"}, function=print)
    with pytest.raises(ConfigurationError, match="not callable"):
        Tool(name="t", description="d", parameters={"type": "object"}, function="print")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# The task's tools= list


def test_resolve_tools_maps_names_to_tools():
    given = Tool.from_function(refund, name="make_refund")
    tools = resolve_tools([lookup_order, given])
    assert list(tools) == ["lookup_order", "make_refund"]
    assert tools["make_refund"] is given
    assert tools["lookup_order"] == Tool.from_function(lookup_order)
    assert resolve_tools(None) == {}


def test_resolve_tools_refuses_duplicates_naming_both_positions():
    with pytest.raises(ConfigurationError, match=r"tools\[0\] and tools\[2\] are both named 'lookup_order'"):
        resolve_tools([lookup_order, refund, Tool.from_function(refund, name="lookup_order")])


@pytest.mark.parametrize(
    ("tools", "match"),
    [
        (["lookup_order"], r"tools\[0\] is str 'lookup_order', not a function or a Tool"),
        ([lookup_order, 42], r"tools\[1\] is int 42"),
        (lookup_order, "tools must be a list"),
        ("lookup_order", "tools must be a list"),
        ({"lookup_order": lookup_order}, "tools must be a list"),
    ],
)
def test_resolve_tools_refuses_what_is_not_a_list_of_tools(tools, match):
    with pytest.raises(ConfigurationError, match=match):
        resolve_tools(tools)


# ---------------------------------------------------------------------------------------------
# One call: prepare, then run

TOOLS = resolve_tools([lookup_order, refund])


def call(name, arguments, call_id="call_1"):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


@pytest.mark.parametrize(
    "arguments",
    [
        '{"order_id": 42, "include_items": true}',  # OpenAI's form: JSON text
        {"order_id": 42, "include_items": True},  # TGI's form: an object
        '"{\\"order_id\\": 42, \\"include_items\\": true}"',  # JSON text inside a JSON string
    ],
)
def test_arguments_as_text_or_object(arguments):
    prepared = prepare(TOOLS, call("lookup_order", arguments))
    assert prepared == PreparedCall(
        call_id="call_1", tool=TOOLS["lookup_order"], arguments={"order_id": 42, "include_items": True}
    )
    outcome = run(prepared)
    assert outcome == ToolOutcome(
        call_id="call_1",
        name="lookup_order",
        arguments={"order_id": 42, "include_items": True},
        text='{"order_id": 42, "status": "shipped", "items": ["mug"]}',
    )
    assert not outcome.is_error
    assert outcome.as_message() == {"role": "tool", "tool_call_id": "call_1", "content": outcome.text}


def test_huggingface_hub_tool_call_objects_are_read():
    hub_call = ChatCompletionOutputToolCall(
        id="abc",
        type="function",
        function=ChatCompletionOutputFunctionDefinition(name="lookup_order", arguments='{"order_id": 7}'),
    )
    prepared = prepare(TOOLS, hub_call)
    assert isinstance(prepared, PreparedCall)
    assert (prepared.call_id, prepared.name, prepared.arguments) == ("abc", "lookup_order", {"order_id": 7})


def test_a_tool_without_parameters_accepts_empty_or_missing_arguments():
    def now() -> str:
        """The time."""
        return "noon"

    tools = resolve_tools([now])
    for arguments in ("", "{}", None, {}):
        prepared = prepare(tools, call("now", arguments))
        assert isinstance(prepared, PreparedCall), arguments
        assert run(prepared).text == "noon"


def test_a_string_result_is_sent_as_it_is_and_others_as_json():
    prepared = prepare(TOOLS, call("refund", {"order_id": 1, "amount": 2.5, "reason": "late"}))
    assert run(prepared).text == "refunded 2.5 EUR on order 1 (late)"

    import datetime
    import decimal

    def stats() -> dict:
        """Stats."""
        return {"total": decimal.Decimal("12.50"), "at": datetime.date(2026, 1, 2), "name": "Zoë", "n": None}

    outcome = run(prepare(resolve_tools([stats]), call("stats", "{}")))
    assert json.loads(outcome.text) == {"total": "12.50", "at": "2026-01-02", "name": "Zoë", "n": None}
    assert "Zoë" in outcome.text  # not \u-escaped: shorter for the model


def test_an_unknown_tool_is_an_outcome_listing_the_tools():
    outcome = prepare(TOOLS, call("cancel_order", '{"order_id": 1}'))
    assert outcome == ToolOutcome(
        call_id="call_1",
        name="cancel_order",
        arguments=None,
        text="Error: there is no tool named 'cancel_order'. The tools are: lookup_order, refund. Call one of "
        "them by its exact name, or answer without a tool.",
        error="unknown_tool",
    )
    assert outcome.is_error
    assert outcome.as_message()["content"] == outcome.text


def test_a_call_without_name_or_id_is_an_outcome():
    outcome = prepare(TOOLS, {"function": {"arguments": "{}"}})
    assert isinstance(outcome, ToolOutcome)
    assert (outcome.error, outcome.name, outcome.call_id) == ("unknown_tool", None, None)
    assert outcome.as_message() == {"role": "tool", "content": outcome.text}


def test_arguments_that_are_not_json():
    outcome = prepare(TOOLS, call("lookup_order", '{"order_id": 42,'))
    assert isinstance(outcome, ToolOutcome)
    assert outcome.error == "invalid_json"
    assert outcome.arguments is None
    assert outcome.text.startswith(
        "Error: the arguments of this call to lookup_order are not valid JSON (Expecting property name "
        "enclosed in double quotes at character 16). Send them as one JSON object. The parameters of "
        'lookup_order (JSON schema): {"type": "object"'
    )


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ('{"order_id": "42"}', "at order_id: '42' is not of type 'integer'"),
        ("{}", "'order_id' is a required property"),
        ('{"order_id": 1, "order": 2}', "Additional properties are not allowed ('order' was unexpected)"),
        ('{"order_id": true}', "at order_id: True is not of type 'integer'"),
        ("[42]", "they must be a JSON object, not an array"),
        ("42", "they must be a JSON object, not a number"),
    ],
)
def test_arguments_that_do_not_fit_the_schema(arguments, problem):
    outcome = prepare(TOOLS, call("lookup_order", arguments))
    assert isinstance(outcome, ToolOutcome)
    assert outcome.error == "invalid_arguments"
    assert outcome.text.startswith(
        f"Error: the arguments of this call to lookup_order do not fit its parameters: {problem}. "
        "The parameters of lookup_order (JSON schema): "
    )
    assert json.loads(outcome.text.split("(JSON schema): ", 1)[1]) == TOOLS["lookup_order"].parameters


def test_enum_mismatch_and_several_problems():
    outcome = prepare(TOOLS, call("refund", {"order_id": 1, "amount": "x", "reason": "bored"}))
    assert isinstance(outcome, ToolOutcome)
    assert outcome.text.startswith(
        "Error: the arguments of this call to refund do not fit its parameters: at amount: 'x' is not of "
        "type 'number'; at reason: 'bored' is not one of ['damaged', 'late', 'other']. The parameters of"
    )
    outcome = prepare(TOOLS, call("refund", {"amount": "x", "reason": "bored", "tags": [1], "more": 1}))
    assert isinstance(outcome, ToolOutcome)
    assert outcome.text.startswith(
        "Error: the arguments of this call to refund do not fit its parameters: 'order_id' is a required "
        "property; Additional properties are not allowed ('more' was unexpected); at amount: 'x' is not of "
        "type 'number' (and 2 more problem(s)). The parameters of refund"
    )
    assert "(and 2 more problem(s)). The parameters of refund" in outcome.text


class Refused(Exception):
    pass


def raising(kind: str) -> str:
    """Fails on purpose.

    :param kind: how.
    """
    if kind == "tool_error":
        raise ToolError("order 9 is closed; look up an open order")
    if kind == "token":
        raise RuntimeError(f"auth failed for token {TOKEN} at https://example.invalid\n\nwith   spaces")
    if kind == "long":
        raise ValueError("x" * 5_000)
    if kind == "fail":
        raise ConfigurationError("the connection is missing")
    if kind == "airflow_fail":
        raise AirflowFailException("stop the task")
    raise KeyError(kind)


RAISING = resolve_tools([raising])


def run_raising(kind, **kwargs):
    prepared = prepare(RAISING, call("raising", {"kind": kind}))
    assert isinstance(prepared, PreparedCall)
    return run(prepared, **kwargs)


def test_a_raising_tool_is_an_outcome_for_the_model():
    outcome = run_raising("other")
    assert outcome == ToolOutcome(
        call_id="call_1",
        name="raising",
        arguments={"kind": "other"},
        text="Error: the tool raising failed: KeyError: 'other'. Check the arguments, or answer without this "
        "tool.",
        error="tool_raised",
    )


def test_a_tool_error_is_sent_in_the_tools_own_words():
    outcome = run_raising("tool_error")
    assert (outcome.error, outcome.text) == (
        "tool_error",
        "Error from raising: order 9 is closed; look up an open order",
    )


def test_exception_messages_are_redacted_and_short():
    outcome = run_raising("token", secrets=["example.invalid"])
    assert TOKEN not in outcome.text
    assert outcome.text == (
        "Error: the tool raising failed: RuntimeError: auth failed for token hf_*** at https://*** with "
        "spaces. Check the arguments, or answer without this tool."
    )
    long = run_raising("long")
    assert long.error == "tool_raised"
    assert "x" * 497 + "..." in long.text
    assert "x" * 498 not in long.text


def test_airflow_fail_exceptions_fail_the_task():
    with pytest.raises(ConfigurationError, match="the connection is missing"):
        run_raising("fail")
    with pytest.raises(AirflowFailException, match="stop the task"):
        run_raising("airflow_fail")


def test_a_token_in_a_result_is_removed():
    def leak() -> str:
        """Leaks."""
        return f"the token is {TOKEN}"

    assert run(prepare(resolve_tools([leak]), call("leak", "{}"))).text == "the token is hf_***"


def test_long_results_are_cut_with_a_note():
    def big(n: int) -> str:
        """Big.

        :param n: how many characters.
        """
        return "a" * n

    tools = resolve_tools([big])
    exact = run(prepare(tools, call("big", {"n": MAX_RESULT_CHARS})))
    assert (exact.text, exact.cut_chars) == ("a" * MAX_RESULT_CHARS, 0)

    outcome = run(prepare(tools, call("big", {"n": 50_000})))
    assert len(outcome.text) <= MAX_RESULT_CHARS
    kept = outcome.text.index("\n")
    assert outcome.text == "a" * kept + f"\n[Result cut: the first {kept} of 50000 characters are shown.]"
    assert outcome.cut_chars == 50_000 - kept
    assert outcome.error is None

    small = run(prepare(tools, call("big", {"n": 1_000})), max_chars=300)
    assert len(small.text) <= 300
    assert small.text.endswith("of 1000 characters are shown.]")
    assert small.cut_chars == 1_000 - small.text.index("\n")


def test_error_texts_are_cut_too():
    tool = Tool.from_function(lookup_order)
    outcome = prepare({"lookup_order": tool}, call("lookup_order", "{"), max_chars=200)
    assert isinstance(outcome, ToolOutcome)
    assert len(outcome.text) <= 200
    assert outcome.cut_chars > 0
    with pytest.raises(ConfigurationError, match="max_chars is 50"):
        prepare(TOOLS, call("nope", "{}"), max_chars=50)


def test_reviewed_arguments_are_checked_and_used():
    prepared = prepare(TOOLS, call("refund", {"order_id": 1, "amount": 50, "reason": "late"}))
    assert isinstance(prepared, PreparedCall)
    edited = run(prepared, arguments={"order_id": 1, "amount": 20, "reason": "late"})
    assert (edited.text, edited.arguments) == (
        "refunded 20 EUR on order 1 (late)",
        {"order_id": 1, "amount": 20, "reason": "late"},
    )
    bad = run(prepared, arguments={"order_id": 1, "amount": "twenty", "reason": "late"})
    assert bad.error == "invalid_arguments"
    assert bad.text.startswith(
        "Error: the arguments given for this call to refund do not fit its parameters: at amount: 'twenty' "
        "is not of type 'number'."
    )


def test_outcomes_are_plain_json():
    import dataclasses

    outcome = run_raising("tool_error")
    assert json.loads(json.dumps(dataclasses.asdict(outcome))) == dataclasses.asdict(outcome)
