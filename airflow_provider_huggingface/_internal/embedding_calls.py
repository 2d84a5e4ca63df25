"""The hook's embedding methods: the same steps as a chat (retries, fallbacks, budget), one request
per call. A mixin of :class:`~airflow_provider_huggingface.hooks.huggingface.HuggingFaceHook`, kept
apart so that the hook's module holds the connection, the clients and the chat."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from airflow_provider_huggingface._internal.chat_flow import ChatBackend, ChatSession
    from airflow_provider_huggingface._internal.connection import ConnectionSettings
    from airflow_provider_huggingface._internal.embed_flow import Embed, TextsPerRequest
    from airflow_provider_huggingface._internal.embedding import EmbeddingResult, EmbedRequest

    class _Hook(ChatBackend, Protocol):
        """What the embedding methods use of the hook they are mixed into."""

        @property
        def settings(self) -> ConnectionSettings: ...

        async def aget_settings(self) -> ConnectionSettings: ...

        def _client_kwargs(self) -> dict[str, Any]: ...

        @property
        def chat_session(self) -> Callable[..., ChatSession]: ...

        def send_request(self, ask: Embed, session: ChatSession | None = None) -> Any: ...

        def report(self, request: Any, result: Any, seconds: float) -> None: ...

        def prepare_embed(
            self,
            texts: Sequence[str],
            *,
            model: str | None = None,
            normalize: bool = False,
            truncate: bool = True,
        ) -> EmbedRequest: ...

        async def aembed(self, texts: EmbedRequest, **kwargs: Any) -> EmbeddingResult: ...


# Imported by the hook's module at every DAG parse: everything else is imported where it is used.


class EmbeddingCalls:
    """``prepare_embed``, ``embed`` and ``aembed`` of the hook."""

    def prepare_embed(
        self: _Hook,
        texts: Sequence[str],
        *,
        model: str | None = None,
        normalize: bool = False,
        truncate: bool = True,
    ) -> EmbedRequest:
        """Check an embedding call's arguments and build what will be sent; nothing is sent yet.

        The model is ``model``, else on the router the provider's default embedding model
        (``sentence-transformers/all-MiniLM-L6-v2``), else the endpoint's own. Every mistake found here
        (a text that is not a string, or empty; a provider that serves no embeddings) is a
        :class:`ConfigurationError`.
        """
        from airflow_provider_huggingface._internal.embedding import build_embed_request

        return build_embed_request(self.settings, texts, model=model, normalize=normalize, truncate=truncate)

    def embed(
        self: _Hook,
        texts: Sequence[str] | EmbedRequest,
        *,
        model: str | None = None,
        normalize: bool = False,
        truncate: bool = True,
        batch_size: int | None = None,
        session: ChatSession | None = None,
        **session_settings: Any,
    ) -> EmbeddingResult:
        """Embed ``texts``; return ``{"embeddings", "dimensions", "model", "usage"}``: one vector per
        text, in order, all of ``dimensions`` values.

        On the router through huggingface_hub's feature extraction (it needs numpy: the ``embeddings``
        extra); on an endpoint connection through its OpenAI-compatible ``POST /v1/embeddings``. A reply
        with a vector too many or too few, or vectors of different lengths, is a
        :class:`~airflow_provider_huggingface.exceptions.MalformedResponseError` naming what came back.
        The rest is as :meth:`chat`: retries under the connection's policy, errors with their fix,
        ``validate_model``, ``fallback_models`` (the model that answered is ``"model"``), ``max_calls``
        and ``max_total_tokens`` (``usage`` is None where the server reports none, as the router does).

        :param texts: the texts (non-empty strings), or a request built by :meth:`prepare_embed`.
        :param normalize: scale each vector to unit length (L2); ``False`` leaves them as the server
            gives them (many sentence-embedding models give unit vectors already).
        :param truncate: on the router, let the server cut texts longer than the model takes instead of
            refusing them. An endpoint applies its own setting (TEI: ``--auto-truncate``).
        :param batch_size: the most texts one request holds; more are sent in several requests, in
            order. Default: all in one, cut to the size the server names if it answers 413 (TEI's
            ``--max-client-batch-size``).
        :param session: what this call shares with the task's other calls, from :meth:`chat_session`.
        :param session_settings: without ``session``, what :meth:`chat_session` takes for this call:
            ``validate_model``, ``fallback_models``, ``max_calls``, ``max_total_tokens``.
        """
        from airflow_provider_huggingface._internal.embed_flow import embed_steps
        from airflow_provider_huggingface._internal.steps import drive

        asked = _checked_call(self, texts, model, normalize, truncate, batch_size, session, session_settings)
        request, session, per_request = asked
        started = time.monotonic()
        answered, result = drive(embed_steps(request, session, self, per_request), self.send_request)
        if session.report:
            self.report(answered, result, time.monotonic() - started)
        return result

    async def aembed(
        self: _Hook,
        texts: Sequence[str] | EmbedRequest,
        *,
        model: str | None = None,
        normalize: bool = False,
        truncate: bool = True,
        batch_size: int | TextsPerRequest | None = None,
        client: Any = None,
        session: ChatSession | None = None,
        **session_settings: Any,
    ) -> EmbeddingResult:
        """:meth:`embed` in an event loop: the same steps, the same result and errors.

        :param batch_size: as :meth:`embed`, or a ``TextsPerRequest`` that the calls of a task share,
            so that a 413 met by one cuts the requests of all.
        :param client: an open ``AsyncInferenceClient`` to send with, or a batch's client, which holds
            each attempt to its limits (its ``call``); else the event loop's shared client.
        """
        from airflow_provider_huggingface._internal.client_pool import current_pool
        from airflow_provider_huggingface._internal.embed_flow import embed_steps
        from airflow_provider_huggingface._internal.embedding import asend
        from airflow_provider_huggingface._internal.steps import adrive

        settings = await self.aget_settings()
        asked = _checked_call(self, texts, model, normalize, truncate, batch_size, session, session_settings)
        request, session, per_request = asked
        if client is None:
            async with current_pool().lease(settings.conn_id, self._client_kwargs()) as shared:
                return await self.aembed(request, batch_size=per_request, client=shared, session=session)
        gate = current_pool().gate(client)
        # A batch's client (batch.calls.LimitedClient) sends each attempt through its ``call``.
        through = getattr(client, "call", None)

        async def perform(step: Embed) -> EmbeddingResult:
            async with gate:
                if through is not None:
                    return await through(asend, step.request, settings)
                return await asend(client, step.request, settings)

        started = time.monotonic()
        answered, result = await adrive(embed_steps(request, session, self, per_request), perform)
        if session.report:
            self.report(answered, result, time.monotonic() - started)
        return result


def _checked_call(
    hook: _Hook,
    texts: Sequence[str] | EmbedRequest,
    model: str | None,
    normalize: bool,
    truncate: bool,
    batch_size: int | TextsPerRequest | None,
    session: ChatSession | None,
    session_settings: dict[str, Any],
) -> tuple[EmbedRequest, ChatSession, TextsPerRequest]:
    """What an embedding call sends and shares, checked: its request, session and request size."""
    from airflow_provider_huggingface._internal.embed_flow import TextsPerRequest
    from airflow_provider_huggingface._internal.embedding import EmbedRequest
    from airflow_provider_huggingface._internal.validation import COUNT, check_number

    if isinstance(texts, EmbedRequest):
        request = texts
    else:
        request = hook.prepare_embed(texts, model=model, normalize=normalize, truncate=truncate)
    if not isinstance(batch_size, TextsPerRequest):
        batch_size = TextsPerRequest(check_number("batch_size", batch_size, COUNT))
    return request, session or hook.chat_session(request, **session_settings), batch_size
