"""The ``pgvector_db`` fixture: one PostgreSQL with pgvector per test session, as the Airflow connection
``pgvector_test``; it fails, never skips, when the server cannot start."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import pytest

from tests.services import ServiceError
from tests.vectorstore.pgvector import connection_uri, pgvector

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.services import Service

PGVECTOR_CONN_ID = "pgvector_test"


@pytest.fixture(scope="session")
def pgvector_server() -> Iterator[Service]:
    with contextlib.ExitStack() as stack:
        try:
            service = stack.enter_context(pgvector())
        except ServiceError as exc:
            problem = str(exc)
        else:
            problem = ""
        # Failing outside the except block keeps the report to the message, without a chained traceback.
        if problem:
            pytest.fail(f"The vector store could not start: {problem}", pytrace=False)
        yield service


@pytest.fixture
def pgvector_db(pgvector_server: Service, monkeypatch: pytest.MonkeyPatch) -> Service:
    """The session's server, reachable as the Airflow connection ``pgvector_test``."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{PGVECTOR_CONN_ID.upper()}", connection_uri(pgvector_server))
    return pgvector_server
