"""``HuggingFaceHook``: chat completions through ``huggingface_hub.InferenceClient``."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface._internal.airflow_compat import (
    AirflowNotFoundException,
    BaseHook,
    run_blocking,
)
from airflow_provider_huggingface._internal.chat import (
    ChatRequest,
    ChatResult,
    LineLogger,
    StreamAccumulator,
    add_usage,
    completion_result,
    count_tokens,
)
from airflow_provider_huggingface._internal.connection import (
    ConnectionSettings,
    check_generation_settings,
    unreadable_env_connection,
)
from airflow_provider_huggingface._internal.error_mapping import map_error
from airflow_provider_huggingface._internal.fallback import ModelFallback, check_fallback_models
from airflow_provider_huggingface._internal.hub_compat import prepare_provider_mapping
from airflow_provider_huggingface._internal.images import MAX_IMAGE_BYTES, attach_images, image_parts
from airflow_provider_huggingface._internal.retry import (
    RetryPolicy,
    async_call_with_retries,
    call_with_retries,
)
from airflow_provider_huggingface._internal.structured import parse_reply, reask, reask_request, wants_json
from airflow_provider_huggingface.exceptions import (
    ConfigurationError,
    HuggingFaceError,
    StructuredOutputError,
)
from airflow_provider_huggingface.prompts.messages import check_messages, conversation
from airflow_provider_huggingface.provider_info import DEFAULT_MODEL

__all__ = ["ChatRequest", "HuggingFaceHook", "completion_result", "count_tokens"]

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from huggingface_hub import AsyncInferenceClient, InferenceClient


def _check_encodable(field: str, text: str) -> None:
    """A lone surrogate (bytes decoded with surrogateescape) cannot be sent as JSON text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigurationError(
            f"{field} is not valid Unicode at character {exc.start}: {exc.reason}. Decode the data it "
            "comes from with bytes.decode('utf-8', errors='replace')."
        ) from None


def _log_reask(log: Any, error: StructuredOutputError) -> None:
    """The one line that says a second, billed call follows: the same on every path."""
    log.warning("Asking once more for JSON that fits: %s", error)


class HuggingFaceHook(BaseHook):
    """Talks to Hugging Face text generation: the router, an Inference Endpoint, or any
    OpenAI-compatible chat server named by the connection's host.

    :param hf_conn_id: the ``huggingface`` connection to use.
    """

    conn_name_attr = "hf_conn_id"
    default_conn_name = "huggingface_default"
    conn_type = "huggingface"
    hook_name = "Hugging Face"

    def __init__(self, *, hf_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hf_conn_id = hf_conn_id

    @functools.cached_property
    def settings(self) -> ConnectionSettings:
        """The connection's checked settings, read once."""
        self._check_conn_id()
        return self._read_settings()

    def _read_settings(self) -> ConnectionSettings:
        try:
            conn = self.get_connection(self.hf_conn_id)
        except AirflowNotFoundException:
            raise self._missing_connection() from None
        return self._checked(ConnectionSettings.from_connection(conn))

    def _check_conn_id(self) -> None:
        conn_id = self.hf_conn_id
        if not isinstance(conn_id, str) or not conn_id.strip():
            raise ConfigurationError(
                f"hf_conn_id={conn_id!r} is not valid: it must name a connection of type Hugging Face, "
                f"e.g. hf_conn_id='{self.default_conn_name}' (the default when it is left out)."
            )

    def _missing_connection(self) -> ConfigurationError:
        conn_id = self.hf_conn_id
        unreadable = unreadable_env_connection(conn_id)
        if unreadable:
            return ConfigurationError(f"Connection '{conn_id}': {unreadable}")
        return ConfigurationError(
            f"There is no connection '{conn_id}'. Create it in Admin > Connections with the type "
            f"Hugging Face and your hf_ token, or set AIRFLOW_CONN_{conn_id.upper()}="
            '\'{"conn_type": "huggingface", "password": "hf_..."}\', or name another one with hf_conn_id.'
        )

    def _checked(self, settings: ConnectionSettings) -> ConnectionSettings:
        if settings.token:
            from airflow_provider_huggingface._internal.airflow_compat import mask_secret

            mask_secret(settings.token)
        for warning in settings.warnings:
            self.log.warning("%s", warning)
        return settings

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(max_retries=self.settings.max_retries, base_delay=self.settings.backoff)

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

    def map_error(self, error: BaseException, model: str | None = None) -> HuggingFaceError:
        """This connection's view of :func:`airflow_provider_huggingface.exceptions.map_error`."""
        settings = self.settings
        return map_error(
            error, model=model, where=settings.where, secrets=(settings.token,), timeout=settings.timeout
        )

    async def aget_settings(self) -> ConnectionSettings:
        """:attr:`settings`, read without blocking an event loop (triggerer, batches).

        The lookup, the extra's parsing and the token's masking all ask Airflow's supervisor
        synchronously, so they run together in a worker thread (see ``run_blocking``).
        """
        if "settings" not in self.__dict__:
            from airflow_provider_huggingface._internal.client_pool import current_pool

            self._check_conn_id()
            # Triggers that start together read their connection once: each read is a supervisor round trip.
            self.__dict__["settings"] = await current_pool().read_once(self.hf_conn_id, self._aread_settings)
        return self.settings

    async def _aread_settings(self) -> ConnectionSettings:
        return await run_blocking(self._read_settings)

    def prepare_chat(
        self,
        *,
        user_prompt: str | None = None,
        system_prompt: str | None = None,
        messages: list[dict[str, str]] | None = None,
        images: Any = None,
        max_image_bytes: int = MAX_IMAGE_BYTES,
        model: str | None = None,
        stop: str | list[str] | None = None,
        max_total_tokens: int | None = None,
        **generation: Any,
    ) -> ChatRequest:
        """Check a chat call's arguments and build what will be sent. Nothing is sent yet.

        The conversation is ``system_prompt``, then ``messages`` (``{"role", "content"}`` dicts,
        already rendered), then ``user_prompt``; ``images`` are attached to its last user turn
        (see :mod:`airflow_provider_huggingface._internal.images`). ``max_total_tokens`` bounds the
        call's ``max_tokens`` and its structured-output re-ask. Every mistake found here is a
        :class:`ConfigurationError`.
        """
        if user_prompt is not None and not isinstance(user_prompt, str):
            raise ConfigurationError(f"user_prompt must be a string, not {type(user_prompt).__name__}.")
        if messages is not None:
            messages = check_messages(messages)
        if (user_prompt is None and messages is None) or (
            user_prompt is not None and not user_prompt.strip()
        ):
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
            _check_encodable(field, text)
        stop = [stop] if isinstance(stop, str) else stop
        check_generation_settings(stop=stop, **generation)
        turns = conversation(system_prompt=system_prompt, messages=messages, user_prompt=user_prompt)
        turns = attach_images(turns, image_parts(images, max_bytes=max_image_bytes))
        settings = self.settings
        generation["stop"] = stop
        if max_total_tokens is not None:
            if (
                isinstance(max_total_tokens, bool)
                or not isinstance(max_total_tokens, int)
                or max_total_tokens < 1
            ):
                raise ConfigurationError(
                    f"max_total_tokens={max_total_tokens!r}: give a whole number of tokens, at least 1."
                )
            generation["max_tokens"] = min(generation.get("max_tokens") or max_total_tokens, max_total_tokens)
        return ChatRequest(
            where=settings.where,
            model=settings.resolve_model(model),
            messages=turns,
            generation={k: v for k, v in generation.items() if v is not None},
            max_total_tokens=max_total_tokens,
        )

    def validate_model(self, request: ChatRequest) -> None:
        """On the router, ask the Hub whether the model can chat (cached per process)."""
        if request.model is not None and self.settings.base_url is None:
            from airflow_provider_huggingface._internal.images import describe
            from airflow_provider_huggingface._internal.model_check import check_model

            check_model(request.model, self.settings, self.log, images=describe(request.messages)[1])

    def chat(
        self,
        *,
        user_prompt: str | None = None,
        system_prompt: str | None = None,
        messages: list[dict[str, str]] | None = None,
        images: Any = None,
        max_image_bytes: int = MAX_IMAGE_BYTES,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        response_format: dict[str, Any] | None = None,
        stream: bool = False,
        validate_model: bool = False,
        fallback_models: Sequence[str] | None = None,
        max_total_tokens: int | None = None,
    ) -> ChatResult:
        """Send a conversation; return ``{"text", "model", "finish_reason", "usage"}``.

        The conversation is built as :meth:`prepare_chat` says: ``system_prompt``, ``messages``,
        ``user_prompt``, with ``images`` on the last user turn.

        With ``stream=True`` the reply reaches the task log line by line as it is generated;
        the result is the same. Transient failures are retried under the connection's policy.
        With ``validate_model=True`` a router call first asks the Hub whether the model can
        chat (see :func:`airflow_provider_huggingface._internal.model_check.check_model`). With a JSON
        ``response_format`` the result also holds ``"json"``, the parsed reply. When the model itself
        cannot answer (not found, gone, still loading), each of ``fallback_models`` is asked in turn
        (see :mod:`airflow_provider_huggingface._internal.fallback`); ``"model"`` says which answered.
        """
        request = self.prepare_chat(
            user_prompt=user_prompt,
            system_prompt=system_prompt,
            messages=messages,
            images=images,
            max_image_bytes=max_image_bytes,
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            stop=stop,
            seed=seed,
            response_format=response_format,
            max_total_tokens=max_total_tokens,
        )
        fallback = self.model_fallback(request, fallback_models)
        started = time.monotonic()
        answered = request

        def attempt(request: ChatRequest) -> ChatResult:
            nonlocal answered
            answered = request
            if validate_model:
                self.validate_model(request)
            return self._chat_once(request, stream)

        result = fallback.run(request, attempt)
        self.report(answered, result, time.monotonic() - started)
        return result

    def model_fallback(self, request: ChatRequest, fallback_models: Sequence[str] | None) -> ModelFallback:
        """The request's model then its checked ``fallback_models``, to ask in turn.

        A batch holds one for all its items, so that a model that cannot answer is skipped for the
        rest of the batch: pass it to each :meth:`achat` as ``fallback``.
        """
        fallbacks = check_fallback_models(fallback_models, self.settings)
        return ModelFallback([request.model, *fallbacks], log=self.log)

    def _chat_once(self, request: ChatRequest, stream: bool) -> ChatResult:
        if stream:
            # The reply's lines follow in the log as they arrive, so say first what they answer.
            self.log.info("Streaming chat: %s", request)
        response_format = request.generation.get("response_format")
        result = self._send(request.messages, request, stream)
        if wants_json(response_format):
            try:
                result["json"] = parse_reply(result["text"], response_format)
            except StructuredOutputError as error:
                first = result
                again = reask_request(request, first["usage"], error)
                _log_reask(self.log, error)
                result = self._send(reask(request.messages, result["text"], error), again, stream)
                result["usage"] = add_usage(first["usage"], result["usage"])  # both calls are billed
                result["json"] = parse_reply(result["text"], response_format)
        return result

    def _send(self, messages: list[dict[str, str]], request: ChatRequest, stream: bool) -> ChatResult:
        def call() -> ChatResult:
            if stream:
                return self._stream_chat(messages, request.model, request.generation)
            output = self.client.chat_completion(messages, model=request.model, **request.generation)
            return completion_result(output, request.model)

        result = call_with_retries(
            call,
            policy=self.retry_policy,
            map_error=functools.partial(self.map_error, model=request.model),
            log=self.log,
        )
        count_tokens(result["model"], result["usage"])
        return result

    async def achat(
        self,
        request: ChatRequest,
        *,
        client: AsyncInferenceClient | None = None,
        on_retry: Callable[[HuggingFaceError], None] | None = None,
        report: bool = True,
        retry_log: Any = None,
        fallback: ModelFallback | None = None,
    ) -> ChatResult:
        """The asynchronous twin of :meth:`chat`, for a request built by :meth:`prepare_chat`.

        Call :meth:`aget_settings` first when running inside an event loop.

        :param client: an open client to use; else the event loop's shared client for this
            connection's settings (see :mod:`airflow_provider_huggingface._internal.client_pool`).
        :param on_retry: told of each failure that will be retried (a batch adapts its concurrency).
        :param report: log one line for the call (a batch logs progress instead). Tokens are
            counted in Airflow's metrics either way, for every billed call.
        :param retry_log: where retry lines go, if not this hook's log (a batch lets a few through).
        :param fallback: the models to ask when the request's model cannot answer, from
            :meth:`model_fallback`; a batch passes the same one to every call.
        """
        if client is None:
            from airflow_provider_huggingface._internal.client_pool import current_pool

            async with current_pool().lease(self.settings.conn_id, self._client_kwargs()) as shared:
                return await self.achat(
                    request,
                    client=shared,
                    on_retry=on_retry,
                    report=report,
                    retry_log=retry_log,
                    fallback=fallback,
                )
        started = time.monotonic()
        answered = request

        async def attempt(request: ChatRequest) -> ChatResult:
            nonlocal answered
            answered = request
            await self._resolve_provider_mapping(request.model)
            return await self._achat_once(request, client, on_retry, retry_log)

        result = await (fallback.arun(request, attempt) if fallback else attempt(request))
        if report:
            self.report(answered, result, time.monotonic() - started)
        return result

    async def _achat_once(
        self,
        request: ChatRequest,
        client: AsyncInferenceClient,
        on_retry: Callable[[HuggingFaceError], None] | None,
        retry_log: Any,
    ) -> ChatResult:
        from airflow_provider_huggingface._internal.client_pool import current_pool

        response_format = request.generation.get("response_format")
        gate = current_pool().gate(client)

        async def send(messages: list[dict[str, str]], generation: dict[str, Any]) -> ChatResult:
            async def call() -> ChatResult:
                async with gate:
                    output = await client.chat_completion(messages, model=request.model, **generation)
                return completion_result(output, request.model)

            result = await async_call_with_retries(
                call,
                policy=self.retry_policy,
                map_error=functools.partial(self.map_error, model=request.model),
                log=retry_log or self.log,
                on_retry=on_retry,
            )
            count_tokens(result["model"], result["usage"])
            return result

        result = await send(request.messages, request.generation)
        if wants_json(response_format):
            try:
                result["json"] = parse_reply(result["text"], response_format)
            except StructuredOutputError as error:
                first = result
                again = reask_request(request, first["usage"], error)
                _log_reask(retry_log or self.log, error)
                result = await send(reask(request.messages, result["text"], error), again.generation)
                result["usage"] = add_usage(first["usage"], result["usage"])  # both calls are billed
                result["json"] = parse_reply(result["text"], response_format)
        return result

    async def _resolve_provider_mapping(self, model: str | None) -> None:
        """Look up a named provider's model mapping off the event loop.

        huggingface_hub asks the Hub for it with a blocking call (cached per process) on the first
        call for a model; inside the triggerer's event loop that would stall every other trigger.
        """
        settings = self.settings
        if settings.base_url or settings.provider == "auto" or not model:
            return
        # A failure here is met again by the call itself, which maps it. A provider that the installed
        # huggingface_hub does not know was already refused with the settings.
        with contextlib.suppress(Exception):
            await asyncio.to_thread(prepare_provider_mapping, settings.provider, model)

    def report(self, request: ChatRequest, result: ChatResult, seconds: float) -> None:
        """One log line per call: a log line costs about as much as a local round trip."""
        usage = result["usage"]
        self.log.info(
            "Chat: %s -> finish_reason=%s, prompt_tokens=%s, completion_tokens=%s, %d chars in %.2f s",
            request,
            result["finish_reason"],
            usage["prompt_tokens"] if usage else "n/a",
            usage["completion_tokens"] if usage else "n/a",
            len(result["text"]),
            seconds,
        )

    def _stream_chat(
        self, messages: list[dict[str, str]], model: str | None, generation: dict[str, Any]
    ) -> ChatResult:
        lines = LineLogger(self.log)
        acc = StreamAccumulator(model)
        try:
            # stream_options as a dict: huggingface_hub accepts it, though typed as its own dataclass.
            for chunk in self.client.chat_completion(  # type: ignore[call-overload]
                messages, model=model, stream=True, stream_options={"include_usage": True}, **generation
            ):
                lines.feed(acc.add(chunk))
        finally:
            lines.flush()
        return acc.result()

    def test_connection(self) -> tuple[bool, str]:
        """Check the token on the router (the Hub's whoami), or that the endpoint answers."""
        # Only the connection form's Test button needs it: a DAG file's parse does not.
        from airflow_provider_huggingface._internal.connection_probe import check_connection

        return check_connection(self)
