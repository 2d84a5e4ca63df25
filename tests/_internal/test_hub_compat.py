"""Which huggingface_hub line this run uses: `make test` runs the quick tiers on 2.x and again on 1.x."""

from __future__ import annotations

import asyncio
from importlib.metadata import requires, version

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from airflow_provider_huggingface import exceptions as errors
from airflow_provider_huggingface._internal import hub_compat
from airflow_provider_huggingface.provider_info import CHAT_PROVIDERS

# 1.x is what Airflow's common-ai provider pins (huggingface_hub<2); 2.x is the current line.
SUPPORTED_MAJORS = {1: "httpx", 2: "httpx2"}


def test_huggingface_hub_line_is_supported(capsys: pytest.CaptureFixture[str]) -> None:
    installed = Version(version("huggingface_hub"))
    declared = next(
        Requirement(r)
        for r in requires("airflow-provider-huggingface") or []
        if Requirement(r).name.replace("-", "_").lower() == "huggingface_hub"
    )
    # Printed past the capture so the CI log shows which line each run covered.
    with capsys.disabled():
        print(f"\n[compat] huggingface_hub {installed}: line {installed.major}.x, needs {declared.specifier}")

    assert installed.major in SUPPORTED_MAJORS
    assert declared.specifier.contains(installed)
    # The provider must pick the HTTP library of the line it runs on, or map_error misses its errors.
    assert hub_compat.http_module().__name__ == SUPPORTED_MAJORS[installed.major]


@pytest.mark.parametrize("path", ["sync", "async"])
def test_a_provider_unknown_to_huggingface_hub_fails_mapped(hub_redirect, make_hook, monkeypatch, path):
    # Should a release drop a provider that our table says it has, the call still fails mapped, not raw.
    from huggingface_hub.inference._providers import PROVIDERS

    monkeypatch.delitem(PROVIDERS, "together", raising=False)
    hook = make_hook(password="hf_x", extra={"provider": "together"})
    request = hook.prepare_chat(user_prompt="hi", model="meta-llama/Llama-3.1-8B-Instruct")

    if path == "sync":
        call = lambda: hook.chat(user_prompt="hi", model=request.model)  # noqa: E731
    else:
        call = lambda: asyncio.run(hook.achat(request))  # noqa: E731
    with pytest.raises(errors.HuggingFaceError, match="together"):
        call()
    assert hub_redirect.chat_requests == []


def test_provider_since_table_matches_the_installed_release():
    # Checked on every line make test runs: 2.x, the 1.x floor and the newest 1.x.
    from huggingface_hub.inference._providers import PROVIDERS

    for provider in set(CHAT_PROVIDERS) - {"auto"}:
        known = "conversational" in PROVIDERS.get(provider, {})
        assert known == (hub_compat.provider_needs(provider) is None), provider
    assert set(hub_compat.PROVIDER_SINCE) <= set(CHAT_PROVIDERS)


def test_a_provider_newer_than_the_installed_hub_is_refused_before_any_call(hub_redirect, make_hook):
    # On this run's real huggingface_hub: at the floor (1.18.0) baseten is refused, from 1.26.1 it is not.
    hook = make_hook(password="hf_x", extra={"provider": "baseten"})
    if Version(version("huggingface_hub")) >= Version(hub_compat.PROVIDER_SINCE["baseten"]):
        assert hook.settings.provider == "baseten"
        return
    with pytest.raises(errors.ConfigurationError) as info:
        hook.chat(user_prompt="hi")
    assert "'baseten' needs huggingface_hub 1.26.1 or newer" in str(info.value)
    assert f"this environment has {version('huggingface_hub')}" in str(info.value)
    assert hub_redirect.requests == []


@pytest.mark.parametrize(
    ("installed", "needed"), [("1.18.0", "1.26.1"), ("1.26.0", "1.26.1"), ("1.26.1", None)]
)
def test_provider_needs_compares_release_numbers(monkeypatch, make_hook, installed, needed):
    monkeypatch.setattr(hub_compat, "hub_version", lambda: installed)
    assert hub_compat.provider_needs("baseten") == needed
    assert hub_compat.provider_needs("together") is None  # known to the floor
    hook = make_hook(password="hf_x", extra={"provider": "baseten"})
    if needed is None:
        assert hook.settings.provider == "baseten"
    else:
        with pytest.raises(errors.ConfigurationError, match=f"has {installed}. Upgrade it"):
            hook.settings  # noqa: B018
    # An endpoint URL bypasses the router, and with it the provider.
    endpoint = make_hook("hf_endpoint", host="http://127.0.0.1:9", extra={"provider": "baseten"})
    assert endpoint.settings.base_url == "http://127.0.0.1:9"


def test_private_api_used_by_hub_compat_is_still_there():
    """Fails loudly when a huggingface_hub upgrade moves a private name that hub_compat relies on."""
    from huggingface_hub.inference._providers import get_provider_helper

    helper = get_provider_helper("together", task="conversational", model="owner/model")
    assert callable(helper._prepare_mapping_info)
    assert hub_compat.http_module().__name__ in {"httpx", "httpx2"}


def test_a_client_built_in_a_thread_uses_its_session_and_closes_it() -> None:
    async def main() -> None:
        kwargs = {"base_url": "http://127.0.0.1:9", "token": None}
        client, session = await asyncio.to_thread(hub_compat.new_async_client, kwargs)
        await hub_compat.attach_async_session(client, session)
        # The client uses the session built off the loop instead of building one (an SSL context) on it.
        assert await client._get_async_client() is session
        await client.close()
        assert session.is_closed

    asyncio.run(main())


def test_the_embedding_providers_are_the_installed_releases_own():
    from huggingface_hub.inference._providers import PROVIDERS

    providers = hub_compat.embedding_providers()
    assert "hf-inference" in providers
    assert providers == sorted(name for name, tasks in PROVIDERS.items() if "feature-extraction" in tasks)


def test_an_async_clients_own_http_session_is_reached_and_closed_with_it():
    from huggingface_hub import AsyncInferenceClient

    async def run():
        async with AsyncInferenceClient() as client:
            session = await hub_compat.http_session(client)
            assert session is await hub_compat.http_session(client)  # one, opened on first use
        return session

    assert asyncio.run(run()).is_closed
