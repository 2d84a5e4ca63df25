"""How one embedding request gets its vectors, written once for a worker and an event loop.

:func:`embed_steps` asks the request's model, then its fallbacks, each first checked on the Hub when
asked to (see :func:`~airflow_provider_huggingface._internal.chat_flow.models_in_turn`, shared with
chat), and sends under the one retry policy and the task's budget. A request holding more texts than
the server takes (TEI's 413 ``batch size 64 > maximum allowed batch size 32``) is cut to that size and
sent in parts, in order; every later request of the task is cut the same way before it is sent, and
the log says so once (see :class:`TextsPerRequest`).
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface._internal.chat import add_usage
from airflow_provider_huggingface._internal.chat_flow import models_in_turn, send_steps
from airflow_provider_huggingface.exceptions import HuggingFaceError

if TYPE_CHECKING:
    from collections.abc import Generator

    from airflow_provider_huggingface._internal.chat_flow import ChatBackend, ChatSession
    from airflow_provider_huggingface._internal.embedding import EmbeddingResult, EmbedRequest
    from airflow_provider_huggingface._internal.retry import TaskLog

_TOO_MANY = 413
# TEI's words, on its native and its OpenAI-compatible routes alike.
_MAXIMUM = re.compile(r"maximum allowed batch size (\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Embed:
    """A step: send this embedding request once."""

    request: EmbedRequest


class TextsPerRequest:
    """The most texts one embedding request may hold: what the task asked for, lowered for good when
    the server answers 413 (to the maximum it names, else by half). Shared by the task's calls."""

    def __init__(self, size: int | None = None) -> None:
        self.size = size
        self._lock = threading.Lock()

    def lower(self, sent: int, error: HuggingFaceError, log: TaskLog) -> int | None:
        """The size to cut a request of ``sent`` texts to after ``error``, or None when it cannot be cut."""
        if error.status_code != _TOO_MANY or sent < 2:
            return None
        said = error.server_message or ""
        named = _MAXIMUM.search(said)
        size = max(1, min(int(named.group(1)), sent - 1)) if named else sent // 2
        with self._lock:
            if self.size is not None and self.size <= size:
                return self.size  # another call learned it first (and said so)
            self.size = size
        log.warning(
            "The server takes fewer texts a request (HTTP 413: %s): %d texts a request from now on.",
            said or "payload too large",
            size,
        )
        return size


def embed_steps(
    request: EmbedRequest,
    session: ChatSession,
    backend: ChatBackend,
    per_request: TextsPerRequest,
) -> Generator[Any, Any, tuple[EmbedRequest, EmbeddingResult]]:
    """Steps whose value is ``(the request as answered, its result)``; the model that answered is the
    first of the request's model and its fallbacks that could."""
    vectors = functools.partial(_vectors, session=session, backend=backend, per_request=per_request)
    return (yield from models_in_turn(request, session, backend, vectors))


def _vectors(
    request: EmbedRequest, session: ChatSession, backend: ChatBackend, per_request: TextsPerRequest
) -> Generator[Any, Any, EmbeddingResult]:
    """One model's vectors: the request whole, or in parts of the size the server takes."""
    size = per_request.size
    if size is None or len(request.texts) <= size:
        try:
            return (yield from send_steps(Embed(request), session, backend))
        except HuggingFaceError as error:
            lowered = per_request.lower(len(request.texts), error, session.log)
            if lowered is None:
                raise
            size = lowered
    results = []
    for part in request.parts(size):
        results.append((yield from _vectors(part, session, backend, per_request)))
    # The parts come from one model and were each checked; their lengths must agree too.
    dimensions = sorted({result["dimensions"] for result in results})
    if len(dimensions) > 1:
        from airflow_provider_huggingface._internal.chat import UnreadableReply

        unreadable = UnreadableReply(
            f"The server answered vectors of {dimensions} values to the parts of one request: they are "
            "not points of one space. A server or proxy fault: try again later.",
            reply=f"vectors of {dimensions} values",
        )
        raise backend.map_error(unreadable, model=request.model, task=request.task)
    return _joined(results)


def _joined(results: list[EmbeddingResult]) -> EmbeddingResult:
    usage = None
    for result in results:
        usage = add_usage(usage, result["usage"])
    embeddings = [vector for result in results for vector in result["embeddings"]]
    return {
        "embeddings": embeddings,
        "dimensions": results[0]["dimensions"],
        "model": results[0]["model"],
        "usage": usage,
    }
