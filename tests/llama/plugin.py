"""The ``llama_server``, ``llama_embedding_server`` and ``llama_tool_server`` fixtures: real llama.cpp servers
with the tiny random model, one of each per test session (the second serves ``/v1/embeddings`` from the model
with mean pooling; the third calls tools, see :func:`llama_tool_server`).

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
from dev.tiny_gguf import N_CTX_TRAIN, write_tiny_gguf

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from dev.llama_server import LlamaServer

# The tool server's context: tool descriptions cost a few hundred tokens each in the tiny vocabulary.
TOOL_N_CTX = N_CTX_TRAIN
# The chat server's: the retrieval example's answer holds four chunks of about 500 characters.
CHAT_N_CTX = N_CTX_TRAIN


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    model = write_tiny_gguf(tmp_path_factory.mktemp("llama") / "tiny.gguf")
    with _started(model, n_ctx=CHAT_N_CTX) as server:
        yield server


@pytest.fixture(scope="session")
def llama_embedding_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """A server of its own, so the chat tests' server keeps the model and flags they were written for."""
    model = write_tiny_gguf(
        tmp_path_factory.mktemp("llama") / "tiny-embed.gguf", pooling=gguf.PoolingType.MEAN
    )
    with _started(model, embedding=True) as server:
        yield server


@pytest.fixture(scope="session")
def llama_tool_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """The tiny model with a chat template that shows it the tools and the tool turns, for tool calling.

    llama-cpp-python's server (0.3.36) calls a tool only when ``tool_choice`` names it: it then constrains
    the reply with a grammar made from the tool's JSON-schema parameters and answers ``tool_calls`` with
    ``finish_reason: "tool_calls"``; ``"auto"`` and ``"required"`` are answered with text. The request's
    ``seed`` is honoured. The tool descriptions are in the prompt (a few hundred tokens each with this
    vocabulary), hence a context of the model's full 2,048 tokens.
    """
    model = write_tiny_gguf(tmp_path_factory.mktemp("llama") / "tiny-tools.gguf", tools=True)
    with _started(model, n_ctx=TOOL_N_CTX) as server:
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
