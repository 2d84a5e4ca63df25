"""Tool calling in the fake Hugging Face API (:mod:`tests.fakes.hf_api`), as OpenAI-compatible servers
answer it.

A request is answered by ``fake.reply`` whether it offers ``tools`` or not. Besides text, a reply (the
value itself, or what ``reply(body)`` returns) may be a dict that calls tools::

    fake.reply = {
        "tool_calls": [
            {"name": "lookup_order", "arguments": {"order_id": 42}},  # or "arguments": '{"order_id": 42}'
            {"name": "refund", "arguments": '{"order_id": 42', "id": "call_mine"},  # text is sent as it is
        ],
        "content": "Let me look.",  # optional: null when left out
    }

The completion then has ``message.tool_calls`` (``{"id", "type": "function", "function": {"name",
"arguments"}}``; an id left out is ``call_<n>``, n counting the ids made up since the last ``reset()``),
``message.content`` null unless given, ``finish_reason: "tool_calls"`` and the usual usage, a word a token
(the content's words plus each call's name and arguments text). ``stop`` and ``max_tokens`` do not cut a
tool-call reply. Streamed, each call is one chunk carrying it whole (``delta.tool_calls[0].index`` is its
place), and the last chunk has the finish reason.

``arguments`` go out as JSON text, as OpenAI and vLLM send them; ``fake.tool_arguments_as_object = True``
sends them as a JSON object, as TGI does (text that is not JSON still goes as text). :func:`turns` answers
each turn of an agent's conversation with its own reply.

``fake.refuse_tools = "llama.cpp"`` or ``"vllm"`` makes the fake refuse ``tools`` as a server without tool
calling does (:data:`REFUSALS`). The wording is from each server's source:

- llama.cpp's ``llama-server`` without ``--jinja`` (``--no-jinja`` where jinja is its default):
  ``oaicompat_chat_params_parse`` (``tools/server/server-common.cpp``, earlier ``tools/server/utils.hpp``)
  throws ``std::runtime_error("tools param requires --jinja flag")`` for a non-empty ``tools``, and
  ``"tool_choice param requires --jinja flag"`` for a ``tool_choice`` other than ``"auto"``. The route's
  exception wrapper answers a ``runtime_error`` as ``ERROR_TYPE_SERVER``: HTTP **500**
  ``{"error": {"code": 500, "message": ..., "type": "server_error"}}``, not a 400.
- vLLM without ``--enable-auto-tool-choice``/``--tool-call-parser``:
  ``OpenAIServingChat.create_chat_completion`` (``vllm/entrypoints/openai/serving_chat.py``) answers
  ``create_error_response(...)``, a 400 ``BadRequestError``: ``"auto" tool choice requires
  --enable-auto-tool-choice and --tool-call-parser to be set`` for ``tool_choice="auto"`` (which vLLM
  assumes when ``tools`` come without a ``tool_choice``), and ``tool_choice="required" requires
  --tool-call-parser to be set`` for any other choice but ``"none"`` (vLLM prints a named choice's object
  there; the fake prints its JSON). The body is ``{"error": {"message", "type": "BadRequestError",
  "param": null, "code": 400}}`` (vLLM's ``ErrorResponse(error=ErrorInfo(...))``; older releases sent the
  same fields at the top level, with ``"object": "error"``).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["REFUSALS", "ToolServer", "is_tool_reply", "refusal", "turns"]

ToolServer = Literal["llama.cpp", "vllm"]

_LLAMA_TOOLS = "tools param requires --jinja flag"
_LLAMA_TOOL_CHOICE = "tool_choice param requires --jinja flag"
_VLLM_AUTO = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'

#: What each server says to a request with ``tools`` it cannot serve: (status, body) for ``tool_choice``
#: left out (llama.cpp: any ``tools``; vLLM: ``"auto"``, its default with ``tools``).
REFUSALS: dict[str, tuple[int, dict[str, Any]]] = {
    "llama.cpp": (500, {"error": {"code": 500, "message": _LLAMA_TOOLS, "type": "server_error"}}),
    "vllm": (
        400,
        {"error": {"message": _VLLM_AUTO, "type": "BadRequestError", "param": None, "code": 400}},
    ),
}


def refusal(server: ToolServer | None, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """The (status, body) with which ``server`` refuses this request's tools; None if it would serve it."""
    if server is None:
        return None
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if server == "llama.cpp":
        if tools:
            return REFUSALS["llama.cpp"]
        if choice is not None and choice != "auto":
            return 500, {"error": {"code": 500, "message": _LLAMA_TOOL_CHOICE, "type": "server_error"}}
        return None
    if server != "vllm":
        raise ValueError(f"refuse_tools is {server!r}: use 'llama.cpp', 'vllm' or None")
    if choice is None:
        choice = "auto" if tools else "none"  # vLLM's request model fills it in this way
    if choice == "none":
        return None
    if choice == "auto":
        return REFUSALS["vllm"]
    shown = choice if isinstance(choice, str) else json.dumps(choice)
    message = f'tool_choice="{shown}" requires --tool-call-parser to be set'
    return 400, {"error": {"message": message, "type": "BadRequestError", "param": None, "code": 400}}


def is_tool_reply(reply: Any) -> bool:
    """Whether a reply calls tools (a dict with ``tool_calls``) rather than answering with text."""
    return isinstance(reply, dict) and "tool_calls" in reply


def reply_content(reply: Any) -> str | None:
    """The text of a reply: the reply itself, or a tool-call reply's ``content`` (None when it has none)."""
    if is_tool_reply(reply):
        content = reply.get("content")
        return None if content is None else str(content)
    return str(reply)


def turns(*replies: Any) -> Callable[[dict[str, Any]], Any]:
    """A ``fake.reply`` that answers a conversation holding n assistant messages with ``replies[n]`` (the
    last one past the end), so each turn of an agent's loop gets its own reply, the same one on a retry.

    ``fake.reply = turns({"tool_calls": [{"name": "lookup_order", "arguments": {"order_id": 1}}]}, "Done.")``
    """
    if not replies:
        raise ValueError("turns() needs at least one reply")

    def reply(body: dict[str, Any]) -> Any:
        messages = body.get("messages") or []
        done = sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant")
        return replies[min(done, len(replies) - 1)]

    return reply


class CallIds:
    """Makes up ``call_<n>`` ids, n counting from 0 since it was made (the fake makes one per reset)."""

    def __init__(self) -> None:
        self._next = 0

    def __call__(self) -> str:
        made = f"call_{self._next}"
        self._next += 1
        return made


def tool_message(
    reply: dict[str, Any], *, new_id: Callable[[], str], as_object: bool
) -> tuple[dict[str, Any], int]:
    """The assistant message of a tool-call reply and its completion tokens (a word a token)."""
    calls = reply["tool_calls"]
    if not isinstance(calls, list) or not calls:
        raise ValueError(f"a tool-call reply needs a non-empty tool_calls list, not {calls!r}")
    content = reply_content(reply)
    tokens = _count_words(content or "")
    built = []
    for call in calls:
        name = call["name"]
        arguments = call.get("arguments", {})
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        tokens += _count_words(name) + _count_words(text)
        sent: Any = text
        if as_object:
            try:
                sent = json.loads(text)
            except ValueError:
                sent = text  # not JSON: there is no object to send
        call_id = call.get("id") or new_id()
        built.append({"id": call_id, "type": "function", "function": {"name": name, "arguments": sent}})
    return {"role": "assistant", "content": content, "tool_calls": built}, tokens


def stream_deltas(message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The deltas of a streamed tool-call reply: its content, if any, then one call per delta."""
    if message["content"]:
        yield {"role": "assistant", "content": message["content"]}
    for index, call in enumerate(message["tool_calls"]):
        yield {"role": "assistant", "content": None, "tool_calls": [{"index": index, **call}]}


def _count_words(text: str) -> int:
    return len(re.findall(r"\S+", text))
