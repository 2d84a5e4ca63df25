"""The ``llama_server`` fixture: one real llama.cpp server with the tiny random model per test session.

Loaded through ``pytest_plugins`` in tests/conftest.py. When llama-cpp-python is missing or the
server does not come up, every test that asks for the fixture fails with the reason: a silent skip
would let a machine without the llama tier pass CI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from dev.llama_server import LlamaServerError, start_llama_server
from dev.tiny_gguf import write_tiny_gguf

if TYPE_CHECKING:
    from collections.abc import Iterator

    from dev.llama_server import LlamaServer


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    model = write_tiny_gguf(tmp_path_factory.mktemp("llama") / "tiny.gguf")
    try:
        server = start_llama_server(model)
    except LlamaServerError as exc:
        problem = str(exc)
    else:
        problem = ""
    # Failing outside the except block keeps the report to the message, without a chained traceback.
    if problem:
        pytest.fail(f"llama.cpp server tier unavailable: {problem}", pytrace=False)
    with server:
        yield server
