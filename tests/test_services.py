"""The scale tier's own servers: PostgreSQL and Redis start, answer and leave nothing behind; when a
package is missing, the tier fails saying which one and how to install it (never a skip)."""

from __future__ import annotations

import socket

import pytest

from tests import services


@pytest.mark.scale
def test_postgres_and_redis_start_answer_and_are_removed() -> None:
    import psycopg2

    with services.postgres() as pg, services.redis() as broker:
        conn = psycopg2.connect(
            host="127.0.0.1", port=pg.port, user=services.DB_USER, dbname=services.DB_NAME
        )
        with conn, conn.cursor() as cursor:
            cursor.execute("SELECT current_database()")
            assert cursor.fetchone() == (services.DB_NAME,)
        conn.close()
        with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as sock:
            sock.sendall(b"PING\r\n")
            assert sock.recv(16).startswith(b"+PONG")
    for service in (pg, broker):
        assert service.process.poll() is not None
        assert not service.folder.exists()


def test_missing_packages_fail_naming_the_install(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(services, "_DEBIAN_PG_BINS", tmp_path / "postgresql")

    with pytest.raises(services.ServiceError, match=r"initdb was not found.*apt-get install postgresql"):
        services.postgres().__enter__()
    with pytest.raises(
        services.ServiceError, match=r"redis-server was not found.*apt-get install postgresql"
    ):
        services.redis().__enter__()
