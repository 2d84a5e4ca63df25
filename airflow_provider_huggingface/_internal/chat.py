"""What a chat call sends and gets back: the checked request, the plain-JSON result, streamed
chunks gathered into that same result, and the token metrics."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict

from airflow_provider_huggingface.exceptions import ConfigurationError
from airflow_provider_huggingface.provider_info import DEFAULT_MODEL

if TYPE_CHECKING:
    from collections.abc import Iterable

    from airflow_provider_huggingface._internal.connection import ConnectionSettings
    from airflow_provider_huggingface._internal.retry import TaskLog

_UNSAFE_TAG = re.compile(r"[^A-Za-z0-9_./-]")


class TokenUsage(TypedDict):
    """The tokens a call was billed for."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class _ChatResultKeys(TypedDict):
    text: str
    model: str | None
    finish_reason: str | None
    usage: TokenUsage | None  # None where the server gives no usage


class ChatResult(_ChatResultKeys, total=False):
    """A chat call's result, the XCom ``return_value`` of the chat operators: plain JSON."""

    json: Any  # the parsed reply, with a JSON response_format only
    # The inference provider that served the reply, when the router names it (or the connection does).
    provider: str
    # The tools the model asks to call, when the request offered tools and the reply calls any:
    # [{"id", "type": "function", "function": {"name", "arguments": JSON text}}], plain JSON.
    tool_calls: list[dict[str, Any]]


# What reading a parsed reply of the wrong shape raises (a str where a list belongs, a null message).
# Caught only around that reading: the same errors anywhere else are bugs of ours and must surface.
_SHAPE_ERRORS = (AttributeError, KeyError, IndexError, TypeError, ValueError)


class UnreadableReply(Exception):
    """The server answered, but not with a chat completion we can read.

    :func:`airflow_provider_huggingface._internal.error_mapping.map_error` turns it into a
    :class:`~airflow_provider_huggingface.exceptions.MalformedResponseError` that says where the call
    went, what the server sent and the reply's id.

    :param guidance: the cause and the fix, or None for the mapper's general advice.
    :param reply: the reply as parsed, quoted (shortened) as the server's words.
    """

    def __init__(self, guidance: str | None, *, reply: Any) -> None:
        super().__init__(guidance or "unreadable reply")
        self.guidance = guidance
        self.reply = reply

    @property
    def reply_id(self) -> str | None:
        reply_id = getattr(self.reply, "id", None)
        return reply_id if isinstance(reply_id, str) and reply_id else None


def completion_result(output: Any, model: str | None) -> ChatResult:
    """The plain-JSON result of a non-streamed completion.

    :raises UnreadableReply: when the reply has no choices or not the shape of a chat completion.
    """
    choices = getattr(output, "choices", None)
    if not choices:
        raise UnreadableReply(
            "The server answered with no choices, so there is no text to return. Check that the endpoint "
            "is a chat server and that the prompt was not blocked by a content filter.",
            reply=output,
        )
    try:
        choice = choices[0]
        text = choice.message.content
        if text is not None and not isinstance(text, str):
            raise TypeError(f"message.content is {type(text).__name__}, not text")
        result: ChatResult = {
            "text": text or "",
            "model": model or served_model(output),
            "finish_reason": choice.finish_reason,
            "usage": usage_dict(getattr(output, "usage", None)),
        }
        calls = getattr(choice.message, "tool_calls", None)
        if calls:
            result["tool_calls"] = [tool_call_dict(call) for call in calls]
        return result
    except _SHAPE_ERRORS:
        raise UnreadableReply(None, reply=output) from None


def tool_call_dict(call: Any) -> dict[str, Any]:
    """A tool call of a reply as plain JSON, its arguments as JSON text whatever the server sent
    (TGI sends an object; the OpenAI format, which the conversation is sent back in, wants text)."""
    import json

    function = call.function
    arguments = function.arguments
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments if arguments is not None else {})
    return {
        "id": call.id if isinstance(call.id, str) else None,
        "type": "function",
        "function": {"name": function.name, "arguments": arguments},
    }


def served_model(output: Any) -> str | None:
    """The model a server says it used. huggingface_hub sends the placeholder "dummy" to an
    endpoint when no model is named, and some servers (llama.cpp) echo it back: that names nothing."""
    model = getattr(output, "model", None)
    return None if model in (None, "", "dummy") else model


def usage_dict(usage: Any) -> TokenUsage | None:
    if usage is None:
        return None
    return {
        "prompt_tokens": int(usage.prompt_tokens or 0),
        "completion_tokens": int(usage.completion_tokens or 0),
        "total_tokens": int(usage.total_tokens or 0),
    }


@dataclass(frozen=True, repr=False)
class ChatRequest:
    """A checked chat call, ready to send: where, which model, the messages and the settings, and
    how a JSON reply is read (a name of :data:`airflow_provider_huggingface._internal.structured.READERS`)."""

    task: ClassVar[str] = "conversational"  # huggingface_hub's name of what the request asks for

    where: str
    model: str | None
    messages: list[dict[str, Any]]
    generation: dict[str, Any]
    reader: str = "json"

    @property
    def digest(self) -> str:
        """A fingerprint of what is sent: a stored reply is reused only for the same request."""
        import hashlib
        import json

        sent = [self.where, self.model, self.messages, self.generation, self.reader]
        text = json.dumps(sent, sort_keys=True, default=str)  # ASCII: any lone surrogate escaped
        return hashlib.blake2b(text.encode("ascii"), digest_size=16).hexdigest()

    def __str__(self) -> str:
        from airflow_provider_huggingface._internal.images import describe, human_size

        model = self.model or "(the endpoint's own)"
        size, images, image_bytes = describe(self.messages)
        text = f"{self.where}, model {model}, {len(self.messages)} message(s), {size} prompt characters"
        # Never the images themselves: a data URL can be megabytes.
        return text + (f", {images} image(s) of {human_size(image_bytes)} inline" if images else "")

    def __repr__(self) -> str:
        # Never the prompts nor the images: a repr reaches tracebacks and logging's own error reports.
        return f"<ChatRequest {self}>"


def build_request(
    settings: ConnectionSettings,
    *,
    user_prompt: str | None,
    system_prompt: str | None,
    messages: list[dict[str, Any]] | None,
    images: Any,
    max_image_bytes: int | None,
    model: str | None,
    generation: dict[str, Any],
    reader: str = "json",
) -> ChatRequest:
    """The request of a chat call on this connection, every argument checked; see
    :meth:`airflow_provider_huggingface.hooks.huggingface.HuggingFaceHook.prepare_chat`."""
    from airflow_provider_huggingface._internal.connection import check_generation_settings
    from airflow_provider_huggingface._internal.images import MAX_IMAGE_BYTES, attach_images, image_parts
    from airflow_provider_huggingface.prompts.messages import check_messages, conversation

    if user_prompt is not None and not isinstance(user_prompt, str):
        raise ConfigurationError(f"user_prompt must be a string, not {type(user_prompt).__name__}.")
    if messages is not None:
        messages = check_messages(messages)
    if (user_prompt is None and messages is None) or (user_prompt is not None and not user_prompt.strip()):
        raise ConfigurationError(
            "user_prompt is empty: give the model something to answer, e.g. "
            "'Summarize this text: {{fetch.data}}'."
        )
    if system_prompt is not None and not isinstance(system_prompt, str):
        raise ConfigurationError(f"system_prompt must be a string, not {type(system_prompt).__name__}.")
    if model is not None and not isinstance(model, str):
        raise ConfigurationError(
            f"model={model!r} is not valid: it must be a model id string, e.g. model='{DEFAULT_MODEL}' "
            "(or leave it out for the connection's default_model)."
        )
    texts = [("user_prompt", user_prompt or ""), ("system_prompt", system_prompt or "")]
    texts += [(f"messages[{i}].content", m["content"]) for i, m in enumerate(messages or ())]
    for field, text in texts:
        check_encodable(field, text)
    stop = generation.get("stop")
    generation = {**generation, "stop": [stop] if isinstance(stop, str) else stop}
    check_generation_settings(**generation)
    turns = conversation(system_prompt=system_prompt, messages=messages, user_prompt=user_prompt)
    if user_prompt is None and not turns[-1]["content"].strip():
        raise ConfigurationError(
            f"messages[{len(messages or ()) - 1}].content, the conversation's last user turn, is empty: the "
            "model would be billed for answering nothing. Check what it renders from, or give user_prompt."
        )
    parts = image_parts(images, max_bytes=MAX_IMAGE_BYTES if max_image_bytes is None else max_image_bytes)
    return ChatRequest(
        where=settings.where,
        model=settings.resolve_model(model),
        messages=attach_images(turns, parts),
        generation={k: v for k, v in generation.items() if v is not None},
        reader=reader,
    )


def check_encodable(field: str, text: str) -> None:
    """A lone surrogate (bytes decoded with surrogateescape) cannot be sent as JSON text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigurationError(
            f"{field} is not valid Unicode at character {exc.start}: {exc.reason}. Decode the data it "
            "comes from with bytes.decode('utf-8', errors='replace')."
        ) from None


def no_usage() -> TokenUsage:
    """No tokens yet: the start of a running total."""
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def add_usage(first: TokenUsage | None, second: TokenUsage | None) -> TokenUsage | None:
    """The usage of two calls together (None counts as nothing, unless both are None)."""
    if first is None or second is None:
        return second if first is None else first
    return {
        "prompt_tokens": first["prompt_tokens"] + second["prompt_tokens"],
        "completion_tokens": first["completion_tokens"] + second["completion_tokens"],
        "total_tokens": first["total_tokens"] + second["total_tokens"],
    }


def count_tokens(model: str | None, usage: TokenUsage | None) -> None:
    """Add a call's token usage to Airflow's metrics, per model (the total is their sum)."""
    if not usage:
        return
    from airflow_provider_huggingface._internal.airflow_compat import Stats

    # StatsD tag styles break on ':' and the like (an endpoint model such as llama3:8b).
    tags = {"model": _UNSAFE_TAG.sub("_", model or "unknown")}
    Stats.incr("huggingface.prompt_tokens", count=usage["prompt_tokens"], tags=tags)
    Stats.incr("huggingface.completion_tokens", count=usage["completion_tokens"], tags=tags)


class StreamAccumulator:
    """Collects streamed chunks into the same result a non-streamed call returns."""

    def __init__(self, model: str | None) -> None:
        self.model = model
        self.parts: list[str] = []
        self.finish_reason: str | None = None
        self.usage: TokenUsage | None = None
        self.last: Any = None  # the latest chunk, quoted when the stream turns out unreadable

    def add(self, chunk: Any) -> str:
        """Take one chunk; return the text it adds.

        :raises UnreadableReply: when the chunk has not the shape of a chat completion chunk.
        """
        self.last = chunk
        try:
            if self.model is None:
                self.model = served_model(chunk)
            if getattr(chunk, "usage", None) is not None:
                self.usage = usage_dict(chunk.usage)
            text = ""
            for choice in chunk.choices or ():
                text += (choice.delta.content if choice.delta else None) or ""
                self.finish_reason = choice.finish_reason or self.finish_reason
        except _SHAPE_ERRORS:
            raise UnreadableReply(None, reply=chunk) from None
        self.parts.append(text)
        return text

    def result(self) -> ChatResult:
        """:raises UnreadableReply: when the stream ended before the server said it was finished."""
        if self.finish_reason is None:
            raise UnreadableReply(
                "The stream ended before the server said it was finished; the reply may be incomplete. "
                "Check that the endpoint is a chat server, or try stream=False.",
                reply=self.last,
            )
        return {
            "text": "".join(self.parts),
            "model": self.model,
            "finish_reason": self.finish_reason,
            "usage": self.usage,
        }


def stream_result(chunks: Iterable[Any], model: str | None, log: TaskLog) -> ChatResult:
    """A streamed reply gathered into the result a whole one gives, its lines logged as they come."""
    lines = LineLogger(log)
    acc = StreamAccumulator(model)
    failure: Exception | None = None
    try:
        for chunk in chunks:
            lines.feed(acc.add(chunk))
    except Exception as exc:
        failure = exc
    # Outside the except block: a log handler that fails prints the exception being handled, and a
    # server's error event may quote what it was sent (the token) before the error mapper redacts it.
    lines.flush()
    if failure is not None:
        raise failure
    return acc.result()


class LineLogger:
    """Writes streamed text to a log a whole line at a time, as it arrives."""

    def __init__(self, log: Any) -> None:
        self.log = log
        self.buffer = ""

    def feed(self, text: str) -> None:
        self.buffer += text
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            self.log.info("| %s", line)

    def flush(self) -> None:
        if self.buffer:
            self.log.info("| %s", self.buffer)
            self.buffer = ""
