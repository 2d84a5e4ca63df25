"""Tool calling on the llama.cpp tier: the tiny random model calls a declared tool, through the provider's
hook and the real ``InferenceClient``, nothing faked.

Which ``tool_choice`` the server honours: llama-cpp-python 0.3.36's server calls a tool only when
``tool_choice`` names it (``{"type": "function", "function": {"name": ...}}``). It then generates the
arguments under a grammar made from that tool's JSON-schema parameters (``LlamaGrammar.from_json_schema``
in ``chat_formatter_to_chat_completion_handler``, the handler that serves a model's own chat template) and
answers ``tool_calls`` with ``finish_reason: "tool_calls"``. That handler reads no string
``tool_choice``: ``"required"`` and ``"auto"`` are answered with text (pinned below, so an upgrade that
serves them shows here). Its ``chatml-function-calling`` chat format does take ``"auto"`` (the tiny model
then always answers, with an empty message), but fails ``"required"`` with a 500 (an ``assert``) and drops
the request's ``seed``. So these tests force the declared function: the grammar guarantees the call's form,
whatever the weights, and the tests prove the plumbing (the tools and choice reach the server, the call
comes back as the hook's ``tool_calls``, and the provider's own tool code parses and checks it).

The tool has no free-text parameter on purpose: inside a JSON string the grammar allows every word, which
the tiny model prefers to the closing quote, so a ``str`` argument runs on to ``max_tokens`` and the
arguments are cut, unparseable JSON (still with ``finish_reason: "tool_calls"``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Literal

import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError

from airflow_provider_huggingface.agents.tools import PreparedCall, Tool, prepare

if TYPE_CHECKING:
    from dev.llama_server import LlamaServer

pytestmark = pytest.mark.llama

SEEDS = range(20)


def refund(order_id: int, reason: Literal["damaged", "late", "other"], full: bool = False) -> str:
    """Refund an order, in part or in full.

    :param order_id: the order's number.
    :param reason: why it is refunded.
    :param full: refund all of it.
    """
    return f"refunded order {order_id}"


TOOL = Tool.from_function(refund)
FORCED = {"type": "function", "function": {"name": "refund"}}
PROMPT = "refund the order"


@pytest.fixture
def tool_hook(llama_tool_server: LlamaServer, make_hook):
    return make_hook(host=llama_tool_server.url, extra={"timeout": 60, "max_retries": 0})


def test_a_forced_call_is_a_valid_call_of_the_declared_tool_on_every_seed(tool_hook) -> None:
    arguments = []
    for seed in SEEDS:
        result = tool_hook.chat(
            user_prompt=PROMPT, tools=[TOOL.spec()], tool_choice=FORCED, seed=seed, max_tokens=64
        )

        assert result["finish_reason"] == "tool_calls", seed
        assert result["text"] == ""  # the server sends no content beside the call
        (call,) = result["tool_calls"]
        assert call["function"]["name"] == "refund", seed
        assert call["id"], seed
        parsed = json.loads(call["function"]["arguments"])
        assert TOOL.check_arguments(parsed) is None, (seed, parsed)
        # The loop's own first step takes it as it is.
        prepared = prepare({"refund": TOOL}, call)
        assert isinstance(prepared, PreparedCall), (seed, prepared)
        assert prepared.arguments == parsed
        arguments.append(call["function"]["arguments"])
    # The seed reaches the sampler: the calls are not all the same.
    assert len(set(arguments)) > 1, arguments


def test_the_same_seed_gives_the_same_call(tool_hook) -> None:
    def arguments(seed: int) -> str:
        result = tool_hook.chat(
            user_prompt=PROMPT, tools=[TOOL.spec()], tool_choice=FORCED, seed=seed, max_tokens=64
        )
        return result["tool_calls"][0]["function"]["arguments"]

    for seed in (0, 7, 19):
        assert arguments(seed) == arguments(seed)


@pytest.mark.parametrize("tool_choice", ["required", "auto"])
def test_a_tool_choice_that_names_no_function_is_answered_with_text(tool_hook, tool_choice) -> None:
    result = tool_hook.chat(
        user_prompt=PROMPT, tools=[TOOL.spec()], tool_choice=tool_choice, seed=1, max_tokens=8
    )

    assert "tool_calls" not in result
    assert result["finish_reason"] == "length"
    assert len(result["text"].split()) == 8


def conversation(result_text: str, content: object = ...) -> list[dict]:
    """A user turn, the model's call of ``refund`` and the tool's result (``content`` of the call's turn:
    left out unless given)."""
    turn: dict = {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_0",
                "type": "function",
                "function": {"name": "refund", "arguments": '{"order_id": 4}'},
            }
        ],
    }
    if content is not ...:
        turn["content"] = content
    return [
        {"role": "user", "content": PROMPT},
        turn,
        {"role": "tool", "tool_call_id": "call_0", "content": result_text},
    ]


def test_tool_turns_reach_the_prompt(llama_tool_server: LlamaServer) -> None:
    client = InferenceClient(base_url=llama_tool_server.url, timeout=60)

    def prompt_tokens(messages: list[dict]) -> int:
        return client.chat_completion(messages, tools=[TOOL.spec()], seed=1, max_tokens=1).usage.prompt_tokens

    short = prompt_tokens(conversation("the order was refunded"))
    # Three more vocabulary words in the tool's result are three more prompt tokens; "" content works too.
    assert prompt_tokens(conversation("the order was refunded in full today", content="")) == short + 3
    assert prompt_tokens([{"role": "user", "content": PROMPT}]) < short
    # The tools are in the prompt: the same user turn without them is much shorter.
    plain = client.chat_completion([{"role": "user", "content": PROMPT}], max_tokens=1).usage.prompt_tokens
    assert plain < prompt_tokens([{"role": "user", "content": PROMPT}]) - 100


def test_a_tool_call_turn_with_null_content_is_refused(llama_tool_server: LlamaServer) -> None:
    # llama-cpp-python 0.3.36's request model types an assistant turn's content as a string, so the
    # OpenAI form {"content": null, "tool_calls": [...]} fails validation: a 500, not a 400. Leave
    # content out (or send "") in a tool-call turn sent to this server.
    client = InferenceClient(base_url=llama_tool_server.url, timeout=60)
    with pytest.raises(HfHubHTTPError) as caught:
        client.chat_completion(conversation("done", content=None), tools=[TOOL.spec()], max_tokens=1)

    assert caught.value.response.status_code == 500
    assert "ChatCompletionRequestAssistantMessage" in caught.value.response.text
