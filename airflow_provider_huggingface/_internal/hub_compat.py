"""Every use of huggingface_hub's private API, and what differs between its releases, in one place.

huggingface_hub does not promise these names; ``tests/_internal/test_hub_compat.py`` calls each
function so that an upgrade that moves one fails loudly there rather than deep in a task.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

# The first huggingface_hub release that routes chat completions to a provider of the connection
# form, for those newer than our floor (1.18.0, the newest release that installs beside
# pydantic-ai-slim[huggingface]). Read from each release's inference/_providers table; a test
# checks this against the installed release's own table.
PROVIDER_SINCE = {"baseten": "1.26.1"}


def hub_version() -> str:
    """The installed huggingface_hub release, read without importing it."""
    return version("huggingface_hub")


def provider_needs(provider: str) -> str | None:
    """The huggingface_hub version that ``provider`` needs when the installed one is older, else None."""
    since = PROVIDER_SINCE.get(provider)
    if since is None:
        return None
    from packaging.version import Version  # a dependency of huggingface_hub itself

    return since if Version(hub_version()) < Version(since) else None


def http_module() -> Any:
    """The HTTP library huggingface_hub uses: httpx2 on 2.x, httpx on 1.x."""
    from huggingface_hub.utils import _http

    return getattr(_http, "httpx2", None) or getattr(_http, "httpx", None)


def prepare_provider_mapping(provider: str, model: str, task: str = "conversational") -> None:
    """Resolve (and let huggingface_hub cache) the provider's mapping of ``model`` for ``task``.

    It is a blocking Hub call; callers on an event loop run it in a thread. Feature extraction asks the
    Hub even with provider ``auto`` (which provider serves the model) and on ``hf-inference`` (whether
    the model's pipeline fits), where a chat goes to the router's own auto-routing.
    """
    from huggingface_hub.inference._providers import get_provider_helper

    helper = get_provider_helper(provider, task=task, model=model)  # type: ignore[arg-type]
    helper._prepare_mapping_info(model)


def embedding_providers() -> list[str]:
    """The inference providers the installed huggingface_hub can send feature extraction to.

    Read from its own table: releases add and drop providers (1.18.0 has nebius and sambanova, 2.4.0
    deepinfra instead of them).
    """
    from huggingface_hub.inference._providers import PROVIDERS

    return sorted(name for name, tasks in PROVIDERS.items() if "feature-extraction" in tasks)


async def http_session(client: Any) -> Any:
    """The HTTP session an ``AsyncInferenceClient`` sends with (opened on first use, closed with the
    client): an embedding request to an endpoint's ``/v1/embeddings``, which the client has no method
    for, goes out on the same connections as its other calls."""
    return await client._get_async_client()


def new_async_client(client_kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """An ``AsyncInferenceClient`` and the HTTP session it will use, built without an event loop.

    Building the session costs about 20 ms of CPU (an SSL context); run this in a thread, then
    :func:`attach_async_session` on the loop, so that building a client stalls no other coroutine.
    """
    from huggingface_hub import AsyncInferenceClient
    from huggingface_hub.utils import get_async_session

    return AsyncInferenceClient(**client_kwargs), watch_session(get_async_session())


async def attach_async_session(client: Any, session: Any) -> None:
    """Give ``client`` the session built by :func:`new_async_client`, in its exit stack so that
    ``client.close()`` closes it. Without the private attribute the client builds its own, lazily."""
    if getattr(client, "_async_client", False) is None:
        client._async_client = await client.exit_stack.enter_async_context(session)
    else:
        await session.aclose()


# Which inference provider served a reply: the router names it in a response header. huggingface_hub's
# clients do not hand headers back, so a response hook notes it for the call under way (a context
# variable: concurrent calls of a batch, each its own task, never see each other's).
SERVED_BY_HEADER = "x-inference-provider"
_served_by: ContextVar[list[str] | None] = ContextVar("huggingface_served_by", default=None)


@contextlib.contextmanager
def noting_served_by() -> Iterator[list[str]]:
    """The providers named by the responses received inside the ``with`` (in this context)."""
    seen: list[str] = []
    token = _served_by.set(seen)
    try:
        yield seen
    finally:
        _served_by.reset(token)


def _note(response: Any) -> None:
    seen = _served_by.get()
    if seen is not None:
        provider = response.headers.get(SERVED_BY_HEADER)
        if provider:
            seen.append(provider)


async def _anote(response: Any) -> None:
    _note(response)


def watch_session(session: Any) -> Any:
    """``session`` (huggingface_hub's sync or async HTTP client) with the served-by hook, added once."""
    hooks = session.event_hooks
    note = _anote if isinstance(session, http_module().AsyncClient) else _note
    if note not in hooks["response"]:
        hooks["response"] = [*hooks["response"], note]
        session.event_hooks = hooks
    return session


def watched_sync_session() -> None:
    """Make sure the shared sync session notes who served (it is rebuilt when a factory is set)."""
    from huggingface_hub.utils import get_session

    watch_session(get_session())
