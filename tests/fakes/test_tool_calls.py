"""Tool calling in the fake Hugging Face API (tests/fakes/tool_calls.py), driven by the real
``InferenceClient.chat_completion(..., tools=...)`` over HTTP."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError

from airflow_provider_huggingface._internal.chat import tool_call_dict
from tests.fakes.tool_calls import REFUSALS, turns

if TYPE_CHECKING:
    from tests.fakes.hf_api import FakeHF

LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Look an order up by its number.",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "integer"}},
            "required": ["order_id"],
        },
    },
}
MESSAGES = [{"role": "user", "content": "Where is order 42"}]
FORCED = {"type": "function", "function": {"name": "lookup_order"}}


def client(fake: FakeHF) -> InferenceClient:
    return InferenceClient(base_url=fake.url, token="hf_x")


def calls_of(output: Any) -> list[tuple[str, str, Any]]:
    return [(c.id, c.function.name, c.function.arguments) for c in output.choices[0].message.tool_calls]


def test_a_reply_that_calls_tools(fake_hf: FakeHF) -> None:
    fake_hf.reply = {
        "tool_calls": [
            {"name": "lookup_order", "arguments": {"order_id": 42}},
            {"name": "lookup_order", "arguments": '{"order_id": 7}', "id": "mine"},
            {"name": "lookup_order", "arguments": '{"order_id": '},  # not JSON: sent as it is
        ]
    }
    out = client(fake_hf).chat_completion(MESSAGES, tools=[LOOKUP], tool_choice="required", max_tokens=1)

    assert calls_of(out) == [
        ("call_0", "lookup_order", '{"order_id": 42}'),
        ("mine", "lookup_order", '{"order_id": 7}'),
        ("call_1", "lookup_order", '{"order_id": '),
    ]
    assert {c.type for c in out.choices[0].message.tool_calls} == {"function"}
    assert out.choices[0].message.content is None
    assert out.choices[0].finish_reason == "tool_calls"  # max_tokens does not cut a tool-call reply
    # A word a token: 4 prompt words; each call's name and its arguments text's words (1 + 2, 1 + 2, 1 + 1).
    assert (out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.total_tokens) == (4, 8, 12)
    body = fake_hf.chat_requests[0].body
    assert (body["tools"], body["tool_choice"]) == ([LOOKUP], "required")


def test_content_beside_the_calls_and_ids_counted_from_each_reset(fake_hf: FakeHF) -> None:
    fake_hf.reply = {"tool_calls": [{"name": "lookup_order", "arguments": {}}], "content": "Let me look."}
    first = client(fake_hf).chat_completion(MESSAGES, tools=[LOOKUP])
    second = client(fake_hf).chat_completion(MESSAGES, tools=[LOOKUP])
    fake_hf.reset()
    fake_hf.reply = lambda body: {"tool_calls": [{"name": "lookup_order"}]}
    after_reset = client(fake_hf).chat_completion(MESSAGES, tools=[LOOKUP], tool_choice=FORCED)

    assert first.choices[0].message.content == "Let me look."
    assert first.usage.completion_tokens == 3 + 1 + 1
    assert [calls_of(out)[0][0] for out in (first, second, after_reset)] == ["call_0", "call_1", "call_0"]
    assert calls_of(after_reset) == [("call_0", "lookup_order", "{}")]
    assert fake_hf.chat_requests[0].body["tool_choice"] == FORCED


def test_arguments_as_an_object_as_tgi_sends_them(fake_hf: FakeHF) -> None:
    fake_hf.tool_arguments_as_object = True
    fake_hf.reply = {
        "tool_calls": [
            {"name": "lookup_order", "arguments": '{"order_id": 42}'},
            {"name": "lookup_order", "arguments": {"order_id": 7}},
            {"name": "lookup_order", "arguments": "{oops"},
        ]
    }
    out = client(fake_hf).chat_completion(MESSAGES, tools=[LOOKUP])

    assert [arguments for _, _, arguments in calls_of(out)] == [{"order_id": 42}, {"order_id": 7}, "{oops"]


def test_an_agents_turns_and_the_tool_messages_it_sends_back(fake_hf: FakeHF) -> None:
    fake_hf.reply = turns(
        {"tool_calls": [{"name": "lookup_order", "arguments": {"order_id": 42}}]},
        "Order 42 has shipped.",
    )
    inference = client(fake_hf)
    first = inference.chat_completion(MESSAGES, tools=[LOOKUP], tool_choice="auto")
    (call,) = first.choices[0].message.tool_calls
    conversation = [
        *MESSAGES,
        # As the provider sends a tool-call turn back: its calls as plain JSON, without text.
        {"role": "assistant", "content": None, "tool_calls": [tool_call_dict(call)]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"status": "shipped"}'},
    ]
    second = inference.chat_completion(conversation, tools=[LOOKUP], tool_choice="auto")
    again = inference.chat_completion(MESSAGES, tools=[LOOKUP])  # a retry of the first turn

    assert second.choices[0].message.content == "Order 42 has shipped."
    assert second.choices[0].message.tool_calls is None
    assert second.choices[0].finish_reason == "stop"
    assert calls_of(again)[0][1:] == ("lookup_order", '{"order_id": 42}')
    sent = fake_hf.chat_requests[1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"] == [
        {
            "id": "call_0",
            "type": "function",
            "function": {"name": "lookup_order", "arguments": '{"order_id": 42}'},
        }
    ]
    assert sent[2] == {"role": "tool", "tool_call_id": "call_0", "content": '{"status": "shipped"}'}
    # The tool message's text is part of the prompt: 4 user words and 2 more.
    assert second.usage.prompt_tokens == 6


def test_a_streamed_tool_call_reply(fake_hf: FakeHF) -> None:
    fake_hf.reply = {
        "tool_calls": [
            {"name": "lookup_order", "arguments": {"order_id": 1}},
            {"name": "lookup_order", "arguments": {"order_id": 2}},
        ],
        "content": "Looking.",
    }
    inference = client(fake_hf)
    chunks = list(inference.chat_completion(MESSAGES, tools=[LOOKUP], stream=True))

    deltas = [chunk.choices[0].delta for chunk in chunks]
    assert deltas[0].content == "Looking."
    streamed = [
        (c.index, c.id, c.function.name, c.function.arguments) for d in deltas[1:] for c in d.tool_calls
    ]
    assert streamed == [
        (0, "call_0", "lookup_order", '{"order_id": 1}'),
        (1, "call_1", "lookup_order", '{"order_id": 2}'),
    ]
    assert [chunk.choices[0].finish_reason for chunk in chunks] == [None, None, "tool_calls"]


def refused(fake: FakeHF, **kwargs: Any) -> HfHubHTTPError:
    with pytest.raises(HfHubHTTPError) as caught:
        client(fake).chat_completion(MESSAGES, **kwargs)
    return caught.value


def test_llama_cpp_without_jinja_refuses_tools_with_a_500(fake_hf: FakeHF) -> None:
    fake_hf.refuse_tools = "llama.cpp"

    error = refused(fake_hf, tools=[LOOKUP], tool_choice="auto")
    assert error.response.status_code == 500
    assert error.response.json() == {
        "error": {"code": 500, "message": "tools param requires --jinja flag", "type": "server_error"}
    }
    assert REFUSALS["llama.cpp"] == (500, error.response.json())
    error = refused(fake_hf, tool_choice="required")
    assert error.response.json()["error"]["message"] == "tool_choice param requires --jinja flag"
    assert client(fake_hf).chat_completion(MESSAGES).choices[0].message.content == "Hello from the fake"
    assert [r.status for r in fake_hf.chat_requests] == [500, 500, 200]


@pytest.mark.parametrize(
    ("tool_choice", "message"),
    [
        (None, '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'),
        ("auto", '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'),
        ("required", 'tool_choice="required" requires --tool-call-parser to be set'),
        (FORCED, f'tool_choice="{json.dumps(FORCED)}" requires --tool-call-parser to be set'),
    ],
)
def test_vllm_without_a_tool_parser_refuses_tools_with_a_400(fake_hf: FakeHF, tool_choice, message) -> None:
    fake_hf.refuse_tools = "vllm"

    error = refused(fake_hf, tools=[LOOKUP], tool_choice=tool_choice)
    assert error.response.status_code == 400
    assert error.response.json() == {
        "error": {"message": message, "type": "BadRequestError", "param": None, "code": 400}
    }


def test_vllm_without_a_tool_parser_serves_tool_choice_none(fake_hf: FakeHF) -> None:
    fake_hf.refuse_tools = "vllm"
    out = client(fake_hf).chat_completion(MESSAGES, tools=[LOOKUP], tool_choice="none")
    assert out.choices[0].message.content == "Hello from the fake"
    assert fake_hf.chat_requests[0].body["tool_choice"] == "none"
