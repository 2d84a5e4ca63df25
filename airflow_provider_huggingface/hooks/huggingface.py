"""``HuggingFaceHook``: chat completions and embeddings through ``huggingface_hub.InferenceClient``."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import time
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_huggingface._internal.airflow_compat import AirflowNotFoundException, BaseHook
from airflow_provider_huggingface._internal.embedding_calls import EmbeddingCalls
from airflow_provider_huggingface.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Generator, Sequence

    from huggingface_hub import AsyncInferenceClient, InferenceClient

    from airflow_provider_huggingface._internal.budget import Budget
    from airflow_provider_huggingface._internal.chat import ChatRequest, ChatResult
    from airflow_provider_huggingface._internal.chat_flow import Ask, ChatSession
    from airflow_provider_huggingface._internal.connection import ConnectionSettings
    from airflow_provider_huggingface._internal.embed_flow import Embed
    from airflow_provider_huggingface._internal.embedding import EmbedRequest
    from airflow_provider_huggingface._internal.retry import RetryPolicy, TaskLog
    from airflow_provider_huggingface.exceptions import HuggingFaceError
    from airflow_provider_huggingface.observability.lineage import LineageFacts
    from airflow_provider_huggingface.observability.span_budget import SpanBudget

# A DAG file imports this module at every parse: everything below but Airflow's BaseHook and the
# exceptions is imported where it is used, when a task runs.

R = TypeVar("R")


class HuggingFaceHook(EmbeddingCalls, BaseHook):
    """Talks to Hugging Face text generation and embeddings: the router, an Inference Endpoint, or
    any OpenAI-compatible server named by the connection's host (TGI, TEI, vLLM, llama.cpp).
    Its embedding methods (``prepare_embed``, ``embed``, ``aembed``) are those of
    :class:`~airflow_provider_huggingface._internal.embedding_calls.EmbeddingCalls`.

    :param hf_conn_id: the ``huggingface`` connection to use.
    """

    conn_name_attr = "hf_conn_id"
    default_conn_name = "huggingface_default"
    conn_type = "huggingface"
    hook_name = "Hugging Face"

    def __init__(self, *, hf_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hf_conn_id = hf_conn_id

    # --- the connection

    @functools.cached_property
    def settings(self) -> ConnectionSettings:
        """The connection's checked settings, read once."""
        self._check_conn_id()
        return self._read_settings()

    def _read_settings(self) -> ConnectionSettings:
        from airflow_provider_huggingface._internal.connection import ConnectionSettings

        try:
            conn = self.get_connection(self.hf_conn_id)
        except AirflowNotFoundException:
            raise self._missing_connection() from None
        settings = ConnectionSettings.from_connection(conn)
        if settings.token:
            from airflow_provider_huggingface._internal.airflow_compat import mask_secret

            mask_secret(settings.token)
        for warning in settings.warnings:
            self.log.warning("%s", warning)
        return settings

    def _check_conn_id(self) -> None:
        conn_id = self.hf_conn_id
        if not isinstance(conn_id, str) or not conn_id.strip():
            raise ConfigurationError(
                f"hf_conn_id={conn_id!r} is not valid: it must name a connection of type Hugging Face, "
                f"e.g. hf_conn_id='{self.default_conn_name}' (the default when it is left out)."
            )

    def _missing_connection(self) -> ConfigurationError:
        from airflow_provider_huggingface._internal.connection import unreadable_env_connection

        conn_id = self.hf_conn_id
        unreadable = unreadable_env_connection(conn_id)
        if unreadable:
            return ConfigurationError(f"Connection '{conn_id}': {unreadable}")
        return ConfigurationError(
            f"There is no connection '{conn_id}'. Create it in Admin > Connections with the type "
            f"Hugging Face and your hf_ token, or set AIRFLOW_CONN_{conn_id.upper()}="
            '\'{"conn_type": "huggingface", "password": "hf_..."}\', or name another one with hf_conn_id.'
        )

    async def aget_settings(self) -> ConnectionSettings:
        """:attr:`settings`, read without blocking an event loop (triggerer, batches).

        The lookup, the extra's parsing and the token's masking all ask Airflow's supervisor
        synchronously, so they run together in a worker thread (see ``run_blocking``).
        """
        if "settings" not in self.__dict__:
            from airflow_provider_huggingface._internal.airflow_compat import run_blocking
            from airflow_provider_huggingface._internal.client_pool import current_pool

            self._check_conn_id()
            # Triggers that start together read their connection once: each read is a supervisor round trip.
            self.__dict__["settings"] = await current_pool().read_once(
                self.hf_conn_id, lambda: run_blocking(self._read_settings)
            )
        return self.settings

    @property
    def retry_policy(self) -> RetryPolicy:
        from airflow_provider_huggingface._internal.retry import RetryPolicy

        return RetryPolicy(max_retries=self.settings.max_retries, base_delay=self.settings.backoff)

    def map_error(
        self, error: BaseException, model: str | None = None, task: str = "conversational"
    ) -> HuggingFaceError:
        """This connection's view of the provider's one error mapper (``task``: an embedding call's
        ``"feature-extraction"`` gets the advice that fits it)."""
        from airflow_provider_huggingface._internal.error_mapping import map_error

        settings = self.settings
        return map_error(
            error,
            model=model,
            where=settings.where,
            secrets=(settings.token,),
            timeout=settings.timeout,
            task=task,
        )

    # --- clients

    def _client_kwargs(self) -> dict[str, Any]:
        s = self.settings
        kwargs: dict[str, Any] = {"token": s.token, "timeout": s.timeout, "bill_to": s.bill_to}
        if s.base_url:
            kwargs["base_url"] = s.base_url
        else:
            kwargs["provider"] = s.provider
        return kwargs

    @functools.cached_property
    def client(self) -> InferenceClient:
        """The synchronous client; cheap, since huggingface_hub shares one connection pool per process."""
        from huggingface_hub import InferenceClient

        return InferenceClient(**self._client_kwargs())

    def get_conn(self) -> InferenceClient:
        return self.client

    def get_async_client(self) -> AsyncInferenceClient:
        """A new asynchronous client. Each opens its own pool: use it as ``async with`` and close it."""
        from huggingface_hub import AsyncInferenceClient

        return AsyncInferenceClient(**self._client_kwargs())

    @contextlib.asynccontextmanager
    async def open_async_client(self) -> AsyncIterator[AsyncInferenceClient]:
        """A new asynchronous client of this task's own (a batch's), built in a thread and closed after."""
        from airflow_provider_huggingface._internal.hub_compat import attach_async_session, new_async_client

        client, session = await asyncio.to_thread(new_async_client, self._client_kwargs())
        await attach_async_session(client, session)
        async with client:
            yield client

    # --- what a chat sends

    def prepare_chat(
        self,
        *,
        user_prompt: str | None = None,
        system_prompt: str | None = None,
        messages: list[dict[str, Any]] | None = None,
        images: Any = None,
        max_image_bytes: int | None = None,
        model: str | None = None,
        reader: str = "json",
        **generation: Any,
    ) -> ChatRequest:
        """Check a chat call's arguments and build what will be sent. Nothing is sent yet.

        The conversation is ``system_prompt``, then ``messages`` (``{"role", "content"}`` dicts,
        already rendered), then ``user_prompt``; ``images`` are attached to its last user turn
        (see :mod:`airflow_provider_huggingface._internal.images`). ``generation`` holds the
        generation settings (``max_tokens``, ``temperature``, ``top_p``, ``stop``, ``seed``,
        ``response_format``). ``reader`` names how a JSON reply is read (``"choice"``: a branch's).
        Every mistake found here is a :class:`ConfigurationError`.
        """
        from airflow_provider_huggingface._internal.chat import build_request

        return build_request(
            self.settings,
            user_prompt=user_prompt,
            system_prompt=system_prompt,
            messages=messages,
            images=images,
            max_image_bytes=max_image_bytes,
            model=model,
            generation=generation,
            reader=reader,
        )

    def validate_model(self, request: ChatRequest | EmbedRequest) -> None:
        """On the router, ask the Hub whether the model can chat, or embed (cached per process)."""
        if request.model is None or self.settings.base_url is not None:
            return
        from airflow_provider_huggingface._internal.chat import ChatRequest
        from airflow_provider_huggingface._internal.images import describe
        from airflow_provider_huggingface._internal.model_check import check_model

        images = describe(request.messages)[1] if isinstance(request, ChatRequest) else 0
        check_model(request.model, self.settings, self.log, images=images, task=request.task)

    def route_lookup(self, model: str | None, task: str = "conversational") -> Callable[[], None] | None:
        """The blocking look-up of a provider's model mapping, if the call needs one.

        huggingface_hub asks the Hub for it on a model's first call (cached per process); the steps
        make it a call of its own, so that under an event loop it runs in a thread instead of
        stalling every other trigger. A chat needs it for a named provider; feature extraction for
        ``auto`` too (which provider serves the model), and ``hf-inference`` checks the model's pipeline.
        """
        settings = self.settings
        if settings.base_url or not model or (settings.provider == "auto" and task == "conversational"):
            return None
        key = (settings.provider, model, task)
        if key in self._looked_up:
            return None
        from airflow_provider_huggingface._internal.hub_compat import prepare_provider_mapping

        def lookup() -> None:
            # A failure here is met again by the call itself, which maps it.
            with contextlib.suppress(Exception):
                prepare_provider_mapping(settings.provider, model, task)
                self._looked_up.add(key)

        return lookup

    @functools.cached_property
    def _looked_up(self) -> set[tuple[str, str, str]]:
        """The provider mappings resolved already (huggingface_hub caches them for the process)."""
        return set()

    def chat_session(
        self,
        request: ChatRequest | EmbedRequest,
        *,
        fallback_models: Sequence[str] | None = None,
        validate_model: bool = False,
        budget: Budget | None = None,
        max_calls: int | None = None,
        max_total_tokens: int | None = None,
        log: TaskLog | None = None,
        retry_log: TaskLog | None = None,
        reask_log: TaskLog | None = None,
        report: bool = True,
        on_failure: Callable[[HuggingFaceError, bool], None] | None = None,
        lineage: LineageFacts | None = None,
        spans: SpanBudget | None = None,
        one_model: bool = False,
    ) -> ChatSession:
        """What the calls of one task share: the models to ask in turn (the request's, then
        ``fallback_models``, checked), the budget, where their lines go. A batch makes one for all
        its items, so that a model that could not answer is skipped for the rest of the batch.
        Embedding calls share one the same way.

        :param budget: a budget shared with other calls; else one of ``max_calls`` and
            ``max_total_tokens`` (see :class:`airflow_provider_huggingface._internal.budget.Budget`).
        :param log: where the calls' lines go (default: this hook's log); ``retry_log`` and
            ``reask_log``, if given, take the retry and the re-ask lines.
        :param lineage: the task's OpenLineage facts, told of each call.
        :param spans: the bounded spans of many calls (a batch's); else a span per call.
        :param one_model: the first model that answers answers every later call (an embedding task's
            vectors must all come from one model).
        """
        from airflow_provider_huggingface._internal.budget import Budget
        from airflow_provider_huggingface._internal.chat_flow import ChatSession
        from airflow_provider_huggingface._internal.fallback import ModelFallback, check_fallback_models

        fallbacks = check_fallback_models(fallback_models, self.settings)
        log = log or self.log
        return ChatSession(
            fallback=ModelFallback([request.model, *fallbacks], log=log, sticky=one_model),
            budget=budget or Budget.checked(max_calls=max_calls, max_total_tokens=max_total_tokens),
            log=log,
            retry_log=retry_log,
            reask_log=reask_log,
            validate_model=validate_model,
            report=report,
            on_failure=on_failure,
            lineage=lineage,
            spans=spans,
        )

    def resolve_request(self, request: R, session: ChatSession) -> R:
        """The request (a chat's or an embedding's) as it would be sent first, with the first model that
        passes the Hub's check (with ``session.validate_model``); nothing is sent. A deferred operator
        checks its model in the worker this way, and a batch once for all its items."""
        from airflow_provider_huggingface._internal.budget import Budget
        from airflow_provider_huggingface._internal.steps import first_request

        # The steps admit their first request to the budget before handing it over: it is not sent here.
        unbilled = dataclasses.replace(session, budget=Budget())
        step = first_request(self._steps(request, unbilled))
        return request if step is None else step.request

    def _steps(self, request: Any, session: ChatSession) -> Generator[Any, Any, Any]:
        """The steps of a chat or an embedding request (see :mod:`._internal.steps`)."""
        from airflow_provider_huggingface._internal.chat_flow import chat_steps
        from airflow_provider_huggingface._internal.embed_flow import TextsPerRequest, embed_steps

        if request.task == "feature-extraction":
            return embed_steps(request, session, self, TextsPerRequest())
        return chat_steps(request, session, self)

    # --- the calls: the same steps, driven in a worker or in an event loop

    def chat(
        self,
        request: ChatRequest | None = None,
        *,
        stream: bool = False,
        session: ChatSession | None = None,
        validate_model: bool = False,
        fallback_models: Sequence[str] | None = None,
        max_calls: int | None = None,
        max_total_tokens: int | None = None,
        **prompt: Any,
    ) -> ChatResult:
        """Send a conversation; return ``{"text", "model", "finish_reason", "usage"}``.

        Give a request built by :meth:`prepare_chat`, or its arguments (``user_prompt``,
        ``system_prompt``, ``messages``, ``images``, ``model``, the generation settings). With
        ``stream=True`` the reply reaches the task log line by line as it is generated; the result is
        the same. Transient failures are retried under the connection's policy. With
        ``validate_model=True`` a router call first asks the Hub whether the model can chat. With a
        JSON ``response_format`` the result also holds ``"json"``, the parsed reply, asked for once
        more when it does not fit. When the model itself cannot answer (not found, gone, still
        loading), each of ``fallback_models`` is asked in turn; ``"model"`` says which answered.
        ``max_calls`` and ``max_total_tokens`` bound what the call and its re-ask may spend.

        :param session: what this call shares with the task's other calls, from
            :meth:`chat_session`; it then holds the fallbacks, the budget and ``validate_model``.
        """
        from airflow_provider_huggingface._internal.chat_flow import chat_steps
        from airflow_provider_huggingface._internal.steps import drive

        request, session = self._call_of(
            request, session, prompt, fallback_models, validate_model, max_calls, max_total_tokens
        )
        started = time.monotonic()
        answered, result = drive(
            chat_steps(request, session, self, stream=stream), lambda ask: self.send_request(ask, session)
        )
        if session.report:
            self.report(answered, result, time.monotonic() - started)
        return result

    async def achat(
        self,
        request: ChatRequest | None = None,
        *,
        client: AsyncInferenceClient | None = None,
        session: ChatSession | None = None,
        validate_model: bool = False,
        fallback_models: Sequence[str] | None = None,
        max_calls: int | None = None,
        max_total_tokens: int | None = None,
        **prompt: Any,
    ) -> ChatResult:
        """:meth:`chat` in an event loop (no streaming): the same steps, the same result and errors.

        :param client: an open client to send with (a batch's, which waits for its limits); else the
            event loop's shared client for this connection's settings (see
            :mod:`airflow_provider_huggingface._internal.client_pool`).
        """
        from airflow_provider_huggingface._internal.chat_flow import chat_steps
        from airflow_provider_huggingface._internal.client_pool import current_pool
        from airflow_provider_huggingface._internal.steps import adrive

        await self.aget_settings()
        request, session = self._call_of(
            request, session, prompt, fallback_models, validate_model, max_calls, max_total_tokens
        )
        if client is None:
            async with current_pool().lease(self.settings.conn_id, self._client_kwargs()) as shared:
                return await self.achat(request, client=shared, session=session)
        gate = current_pool().gate(client)

        async def perform(ask: Ask) -> ChatResult:
            from airflow_provider_huggingface._internal.chat import completion_result
            from airflow_provider_huggingface._internal.observed import ObservedRequest

            request = ask.request
            async with gate:  # the span is the request's, not its wait for a slot
                with ObservedRequest(self, request, session) as call:
                    output = await client.chat_completion(
                        request.messages, model=request.model, **request.generation
                    )
                    return call.answered(completion_result(output, request.model))

        started = time.monotonic()
        answered, result = await adrive(chat_steps(request, session, self), perform)
        if session.report:
            self.report(answered, result, time.monotonic() - started)
        return result

    def _call_of(
        self,
        request: ChatRequest | None,
        session: ChatSession | None,
        prompt: dict[str, Any],
        fallback_models: Sequence[str] | None,
        validate_model: bool,
        max_calls: int | None,
        max_total_tokens: int | None,
    ) -> tuple[ChatRequest, ChatSession]:
        """The request and session of a ``chat``/``achat`` call: as given, else built from its arguments."""
        request = request or self.prepare_chat(**prompt)
        session = session or self.chat_session(
            request,
            fallback_models=fallback_models,
            validate_model=validate_model,
            max_calls=max_calls,
            max_total_tokens=max_total_tokens,
        )
        return request, session

    def send_request(self, ask: Ask | Embed, session: ChatSession | None = None) -> Any:
        """Send one request step of the chat or embedding steps, once, in this thread: a chat streamed
        into the log, or whole. Callers that drive the steps themselves (the agent operator) send with it."""
        from airflow_provider_huggingface._internal.chat import completion_result, stream_result
        from airflow_provider_huggingface._internal.chat_flow import Ask
        from airflow_provider_huggingface._internal.hub_compat import watched_sync_session
        from airflow_provider_huggingface._internal.observed import ObservedRequest

        if not isinstance(ask, Ask):
            from airflow_provider_huggingface._internal.embedding import send

            return send(self.client, ask.request, self.settings)
        request = ask.request
        watched_sync_session()
        with ObservedRequest(self, request, session) as call:
            if ask.stream:
                # stream_options as a dict: huggingface_hub accepts it, though typed as its own dataclass.
                chunks = self.client.chat_completion(  # type: ignore[call-overload]
                    request.messages,
                    model=request.model,
                    stream=True,
                    stream_options={"include_usage": True},
                    **request.generation,
                )
                result = stream_result(chunks, request.model, self.log)
            else:
                output = self.client.chat_completion(
                    request.messages, model=request.model, **request.generation
                )
                result = completion_result(output, request.model)
            return call.answered(result)

    def report(self, request: Any, result: Any, seconds: float) -> None:
        """One log line per call: a log line costs about as much as a local round trip."""
        usage = result["usage"]
        if request.task == "feature-extraction":
            self.log.info(
                "Embeddings: %s -> %d vectors of %d values, prompt_tokens=%s in %.2f s",
                request,
                len(result["embeddings"]),
                result["dimensions"],
                usage["prompt_tokens"] if usage else "n/a",
                seconds,
            )
            return
        served = f", served by {result['provider']}" if result.get("provider") else ""
        self.log.info(
            "Chat: %s -> %s%s, finish_reason=%s, prompt_tokens=%s, completion_tokens=%s, %d chars in %.2f s",
            request,
            result["model"] or "(the endpoint's own model)",
            served,
            result["finish_reason"],
            usage["prompt_tokens"] if usage else "n/a",
            usage["completion_tokens"] if usage else "n/a",
            len(result["text"]),
            seconds,
        )

    def test_connection(self) -> tuple[bool, str]:
        """Check the token on the router (the Hub's whoami), or that the endpoint answers."""
        try:
            settings = self.settings
        except Exception as exc:
            return False, str(exc)
        # Only the connection form's Test button needs it: a DAG file's parse does not.
        from airflow_provider_huggingface._internal.connection_probe import check_connection

        return check_connection(settings)
