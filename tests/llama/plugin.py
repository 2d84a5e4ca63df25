"""The ``llama_server`` and ``llama_embedding_server`` fixtures: real llama.cpp servers with the tiny random
model, one of each per test session (the second serves ``/v1/embeddings`` from the model with mean pooling).

Loaded through ``pytest_plugins`` in tests/conftest.py. When llama-cpp-python is missing or the
server does not come up, every test that asks for the fixture fails with the reason: a silent skip
would let a machine without the llama tier pass CI.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import gguf
import pytest

from dev.llama_server import N_CTX, LlamaServerError, start_llama_server
from dev.tiny_gguf import write_tiny_gguf

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from dev.llama_server import LlamaServer


# The retrieval example's answer holds four chunks of about 500 characters: more than 512 tokens.
CHAT_CONTEXT = 2048


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    model = write_tiny_gguf(tmp_path_factory.mktemp("llama") / "tiny.gguf")
    with _started(model, n_ctx=CHAT_CONTEXT) as server:
        yield server


@pytest.fixture(scope="session")
def llama_embedding_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """A server of its own, so the chat tests' server keeps the model and flags they were written for."""
    model = write_tiny_gguf(
        tmp_path_factory.mktemp("llama") / "tiny-embed.gguf", pooling=gguf.PoolingType.MEAN
    )
    with _started(model, embedding=True) as server:
        yield server


@contextlib.contextmanager
def _started(model: Path, *, embedding: bool = False, n_ctx: int = N_CTX) -> Iterator[LlamaServer]:
    try:
        server = start_llama_server(model, embedding=embedding, n_ctx=n_ctx)
    except LlamaServerError as exc:
        problem = str(exc)
    else:
        problem = ""
    # Failing outside the except block keeps the report to the message, without a chained traceback.
    if problem:
        pytest.fail(f"llama.cpp server tier unavailable: {problem}", pytrace=False)
    with server:
        yield server
