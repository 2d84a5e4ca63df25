"""Every use of huggingface_hub's private API, and what differs between its releases, in one place.

huggingface_hub does not promise these names; ``tests/_internal/test_hub_compat.py`` calls each
function so that an upgrade that moves one fails loudly there rather than deep in a task.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

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

    return AsyncInferenceClient(**client_kwargs), get_async_session()


async def attach_async_session(client: Any, session: Any) -> None:
    """Give ``client`` the session built by :func:`new_async_client`, in its exit stack so that
    ``client.close()`` closes it. Without the private attribute the client builds its own, lazily."""
    if getattr(client, "_async_client", False) is None:
        client._async_client = await client.exit_stack.enter_async_context(session)
    else:
        await session.aclose()
