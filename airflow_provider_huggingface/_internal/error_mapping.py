"""The provider's one error mapper: any failure of a call becomes a guiding :class:`HuggingFaceError`."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface._internal.chat import UnreadableReply
from airflow_provider_huggingface._internal.hub_compat import http_module
from airflow_provider_huggingface.exceptions import (
    TOKENS_URL,
    EndpointUnreachableError,
    HuggingFaceError,
    InvalidRequestError,
    InvalidTokenError,
    MalformedResponseError,
    ModelAccessError,
    ModelNotFoundError,
    PaymentRequiredError,
    RateLimitError,
    ResponseTimeoutError,
    ServiceUnavailableError,
    ToolCallingNotSupportedError,
)
from airflow_provider_huggingface.provider_info import DEFAULT_EMBEDDING_MODEL, DEFAULT_MODEL

if TYPE_CHECKING:
    from collections.abc import Iterable

# Real tokens are hf_ and 34 letters or digits; shorter words (connection ids) are left alone.
_HF_TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9]{30,}")

# ---------------------------------------------------------------------------------------------
# Guidance, in the words of the user's troubleshooting guide.

_INVALID_TOKEN = (
    "Invalid API key: the token is incorrect or expired. Ensure it starts with hf_, check it has not "
    "expired, verify it has 'Read' permission (fine-grained tokens also need 'Make calls to Inference "
    f"Providers'), and recreate it at {TOKENS_URL} if necessary."
)
_MODEL_ACCESS = (
    "Model not available: some models require special access. Accept the model's license agreement "
    "on https://huggingface.co/{model}; some models require a Pro subscription; check the token has "
    f"the correct permissions; or try the default model {DEFAULT_MODEL}, which works for everyone."
)
_PAYMENT = (
    "Payment required: the account's included Inference Providers credits are used up. Add credits "
    "or upgrade to Hugging Face Pro, or bill an organization through the connection's 'bill_to' field."
)
_NOT_FOUND = (
    "Not found: the model id '{model}' or the endpoint is incorrect, or the chosen inference provider "
    "does not serve this model. Check the id (owner/name) on https://huggingface.co/models, set the "
    f"connection's provider to 'auto', or try the default model {DEFAULT_MODEL} first."
)
# An endpoint that was sent no model name: advice about model ids and providers would mislead.
_ENDPOINT_ACCESS = (
    "Access denied: the endpoint refused this token. Check that the token has access to the endpoint "
    "(for an Inference Endpoint, a token of its owner or organization) and that the endpoint URL is right."
)
_ENDPOINT_NOT_FOUND = (
    "Not found: the endpoint URL is incorrect or the server has no chat API there. Check the connection's "
    "endpoint URL (host): the server's base URL, e.g. https://xyz.endpoints.huggingface.cloud, to which "
    "/v1/chat/completions is added."
)
_WITHOUT_MODEL = {_MODEL_ACCESS: _ENDPOINT_ACCESS, _NOT_FOUND: _ENDPOINT_NOT_FOUND}
_BAD_REQUEST = (
    "The server rejected the request. Check the generation settings (max_tokens, temperature, top_p, "
    "stop, response_format) and that '{model}' supports chat."
)
_NO_TOOL_CALLING = (
    "The server does not serve tool calling for '{model}'. On the Hugging Face router pick a model whose "
    "providers serve tools (such as Qwen/Qwen2.5-72B-Instruct or meta-llama/Llama-3.3-70B-Instruct); start "
    "llama.cpp's server with --jinja, vLLM with --enable-auto-tool-choice and a --tool-call-parser."
)
# What servers say when they serve no tool calling: llama.cpp's server (a 500), vLLM (a 400), others.
_TOOLS_REFUSED = re.compile(
    r"requires --jinja|tool-call-parser|enable-auto-tool-choice|tools? (?:are|is) not supported"
    r"|does not support tools|tool[_ ]calling is not supported",
    re.IGNORECASE,
)
_RATE_LIMITED = (
    "API rate limit reached (the free tier has rate limits). Wait a moment before retrying, consider "
    "upgrading to Hugging Face Pro, use a smaller model, or cap concurrent calls across DAGs with an "
    "Airflow pool."
)
_UNAVAILABLE = (
    "Service unavailable: the model is loading or the service is overloaded. Try again later, raise "
    "the connection's max_retries or timeout, or choose another provider or a smaller model."
)
_TIMEOUT = (
    "The server did not answer in time. Raise the connection's 'timeout' extra (a loading model can take "
    "minutes), lower max_tokens, or choose a smaller model."
)
_REQUEST_TIMEOUT = (
    "The server gave up waiting for the request (HTTP 408); another attempt usually gets through. If it "
    "keeps happening, check the network or proxy between the Airflow workers and the server."
)
_UNREACHABLE = (
    "Could not reach the server, or it dropped the connection. Check the connection's endpoint URL "
    "(host field) and that the server is running and reachable from the Airflow workers."
)
_MALFORMED = (
    "The server's answer is not a chat completion. Check that the endpoint URL points at an "
    "OpenAI-compatible chat server (TGI, vLLM, llama.cpp, an Inference Endpoint) and not at a web page "
    "or a proxy."
)
# The same cases met by an embedding call: the chat words would send the user to the wrong settings.
_FOR_EMBEDDINGS = {
    _BAD_REQUEST: (
        "The server rejected the request. Check that '{model}' is an embedding model (feature extraction), "
        "and that no text is longer than it takes: truncate=True lets the router cut them; start TEI with "
        "--auto-truncate."
    ),
    _ENDPOINT_NOT_FOUND: (
        "Not found: the endpoint URL is incorrect or the server has no embeddings API there. Check the "
        "connection's endpoint URL (host): the server's base URL, to which /v1/embeddings is added (TEI, "
        "vLLM, or llama.cpp started with --embedding)."
    ),
    _MALFORMED: (
        "The server's answer is not an embedding reply. Check that the endpoint URL points at a server of "
        "embeddings (TEI, vLLM, llama.cpp with --embedding, an Inference Endpoint), not at a web page or a "
        "proxy."
    ),
}


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove tokens from text that may be logged or raised: the given secrets and any hf_ token."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _HF_TOKEN_PATTERN.sub("hf_***", text)


def _server_message(response: Any) -> str | None:
    try:
        body = response.json()
    except Exception:
        text = (getattr(response, "text", "") or "").strip()
        return text[:300] or None
    if isinstance(body, dict):
        error = body.get("error", body.get("message"))
        if isinstance(error, dict):
            error = error.get("message", json.dumps(error))
        if error is not None:
            return str(error)[:500]
    return json.dumps(body)[:300]


def _excerpt(sent: Any) -> str | None:
    """What the server sent, shortened for a message: a body's text, or a parsed reply as JSON."""
    if sent is None:
        return None
    if isinstance(sent, bytes):
        sent = sent.decode("utf-8", errors="replace")
    if not isinstance(sent, str):
        sent = json.dumps(sent, default=repr)
    sent = " ".join(sent.split())
    return sent if len(sent) <= 300 else sent[:300] + "..."


def _retry_after(response: Any) -> float | None:
    """Seconds the server asked us to wait: Retry-After, or a loading model's estimated_time."""
    header = response.headers.get("retry-after")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass  # an HTTP date: rare from these servers, fall back to our own backoff
    try:
        body = response.json()
    except Exception:
        return None
    if isinstance(body, dict) and isinstance(body.get("estimated_time"), (int, float)):
        return max(0.0, float(body["estimated_time"]))
    return None


_BY_STATUS: dict[int, tuple[type[HuggingFaceError], str]] = {
    400: (InvalidRequestError, _BAD_REQUEST),
    401: (InvalidTokenError, _INVALID_TOKEN),
    402: (PaymentRequiredError, _PAYMENT),
    403: (ModelAccessError, _MODEL_ACCESS),
    404: (ModelNotFoundError, _NOT_FOUND),
    408: (ResponseTimeoutError, _REQUEST_TIMEOUT),  # the server's own timeout: transient
    422: (InvalidRequestError, _BAD_REQUEST),
    429: (RateLimitError, _RATE_LIMITED),
}


def _compose(
    guidance: str, *, where: str, server_message: str | None, request_id: str | None, label: str
) -> str:
    parts = [f"{where}: {guidance}"]
    if server_message:
        parts.append(f"{label}: {server_message.rstrip('. ')}.")
    if request_id:
        parts.append(f"Request id: {request_id}.")
    return " ".join(parts)


def map_error(
    error: BaseException,
    *,
    model: str | None,
    where: str,
    secrets: Iterable[str | None] = (),
    timeout: float | None = None,
    task: str = "conversational",
) -> HuggingFaceError:
    """Turn anything huggingface_hub or the network raises into a :class:`HuggingFaceError`.

    :param error: the exception raised by the client.
    :param model: the model id of the call, quoted in the guidance.
    :param where: what was called, e.g. "Hugging Face router" or the endpoint URL.
    :param secrets: values that must never appear in the message (the token).
    :param timeout: the seconds a request was given, named when it timed out.
    :param task: ``"conversational"`` or ``"feature-extraction"`` (an embedding call): which advice fits.
    """
    if isinstance(error, HuggingFaceError):
        return error
    from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError, TextGenerationError

    model_name = model or "the endpoint's model"
    secrets = tuple(secrets)

    def build(
        cls: type[HuggingFaceError], guidance: str, *, label: str = "Server said", **kw: Any
    ) -> HuggingFaceError:
        if model is None:
            guidance = _WITHOUT_MODEL.get(guidance, guidance)
        if task == "feature-extraction":
            guidance = _FOR_EMBEDDINGS.get(guidance, guidance).replace(DEFAULT_MODEL, DEFAULT_EMBEDDING_MODEL)
        server = kw.pop("server_message", None)
        server = redact(server, secrets) if server else None
        message = _compose(
            guidance.format(model=model_name),
            where=where,
            server_message=server,
            request_id=kw.get("request_id"),
            label=label,
        )
        return cls(redact(message, secrets), server_message=server, **kw)

    # The detail of a timeout is the wait, in the retry log line and the final error alike.
    waited = f"no answer within {timeout:g} s" if timeout else "no answer within the timeout"
    if isinstance(error, InferenceTimeoutError):
        return build(ResponseTimeoutError, _TIMEOUT, label="Client error", server_message=waited)
    if isinstance(error, HfHubHTTPError) and getattr(error, "response", None) is not None:
        response = error.response
        status = response.status_code
        said = getattr(error, "server_message", None) or _server_message(response)
        if status < 600 and _TOOLS_REFUSED.search(said or ""):
            # Permanent whatever the status (llama.cpp answers 500): no retry cures a missing feature.
            return build(
                ToolCallingNotSupportedError,
                _NO_TOOL_CALLING,
                status_code=status,
                request_id=getattr(error, "request_id", None) or response.headers.get("x-request-id"),
                server_message=said,
            )
        cls, guidance = _BY_STATUS.get(status, (ServiceUnavailableError, _UNAVAILABLE))
        if status < 500 and status not in _BY_STATUS:
            cls, guidance = InvalidRequestError, _BAD_REQUEST
        return build(
            cls,
            guidance,
            status_code=status,
            request_id=getattr(error, "request_id", None) or response.headers.get("x-request-id"),
            server_message=getattr(error, "server_message", None) or _server_message(response),
            retry_after=_retry_after(response),
        )
    if isinstance(error, TextGenerationError):
        # An error event inside a 200 stream: the server gave up mid-generation.
        return build(ServiceUnavailableError, _UNAVAILABLE, server_message=str(error))
    httpx = http_module()
    if isinstance(error, httpx.TimeoutException):
        return build(ResponseTimeoutError, _TIMEOUT, label="Client error", server_message=waited)
    if isinstance(error, (httpx.TransportError, ConnectionError)):
        return build(
            EndpointUnreachableError, _UNREACHABLE, label="Client error", server_message=type(error).__name__
        )
    if isinstance(error, UnreadableReply):
        return build(
            MalformedResponseError,
            error.guidance or _MALFORMED,
            label="Server sent",
            server_message=_excerpt(error.reply),
            request_id=error.reply_id,
        )
    # Decoding a body raises these, nothing else does. Our own KeyError, TypeError and the like are
    # not a server's fault: they fall through to the last case, which is never retried.
    if isinstance(error, (json.JSONDecodeError, UnicodeDecodeError, httpx.DecodingError)):
        sent = getattr(error, "doc", None) or getattr(error, "object", None)
        return build(
            MalformedResponseError,
            _MALFORMED,
            label="Server sent" if sent else "Client error",
            server_message=_excerpt(sent) or f"{type(error).__name__}: {error}",
        )
    return build(
        HuggingFaceError,
        "Unexpected error from the client.",
        label="Client error",
        server_message=f"{type(error).__name__}: {error}",
    )
