"""Pytest fixtures for the fake Hugging Face API: ``fake_hf_server``, ``fake_hf`` and ``hub_redirect``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.fakes.hf_api import FakeHF, clear_hub_caches, redirect_hub_to

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def fake_hf_server() -> Iterator[FakeHF]:
    """One fake server for the whole session."""
    fake = FakeHF().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fake_hf(fake_hf_server: FakeHF) -> Iterator[FakeHF]:
    """The session's fake, reset before and after the test."""
    fake_hf_server.reset()
    try:
        yield fake_hf_server
    finally:
        # Also ends requests left hanging by the test, so they cannot leak into the next one.
        fake_hf_server.reset()


@pytest.fixture
def hub_redirect(fake_hf: FakeHF) -> Iterator[FakeHF]:
    """Send huggingface_hub's calls to huggingface.co and router.huggingface.co to ``fake_hf``."""
    # huggingface_hub memoises provider mappings per process; start and end with a clean slate.
    clear_hub_caches()
    undo = redirect_hub_to(fake_hf.url)
    try:
        yield fake_hf
    finally:
        undo()
        clear_hub_caches()
