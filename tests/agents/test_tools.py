"""agents/tools.py: a tool built from a function or given as it is, a task's tools= list, and one tool call
prepared and run, with every failure an outcome for the model (the schemas themselves: test_schema.py)."""

from __future__ import annotations

import json

import pytest
from huggingface_hub import ChatCompletionOutputFunctionDefinition, ChatCompletionOutputToolCall

from airflow_provider_huggingface._internal.airflow_compat import AirflowFailException
from airflow_provider_huggingface.agents.schema import describe_function
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
from tests.agents.sample_tools import lookup_order, refund

TOKEN = "hf_" + "Q" * 34


def test_spec_is_the_openai_chat_format():
    assert Tool.from_function(lookup_order).spec() == {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look an order up by its number.",
            "parameters": describe_function(lookup_order)[2],
        },
    }
    assert Tool.from_function(lookup_order).parameters["required"] == ["order_id"]


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


def test_from_function_refuses_what_cannot_be_described():
    def untyped(order_id) -> None:  # type: ignore[no-untyped-def]
        """Untyped."""

    with pytest.raises(ConfigurationError, match=r"parameter 'order_id' of tool function .*untyped"):
        Tool.from_function(untyped)


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
