"""PostgreSQL and Redis, each started on 127.0.0.1 in a throwaway folder.

Plain code, no pytest: the scale tier's fixtures, ``bench/bench_scale.py`` and the vector store of
:mod:`tests.vectorstore` use it. PostgreSQL comes from the distribution's packages unless a caller names
other server programs (the vector store's come with pgvector). A service that cannot start raises
:class:`ServiceError` with its log's tail and what to install.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.processes import clean_environ, free_port, start_logged, tail

if TYPE_CHECKING:
    from collections.abc import Iterator

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# Debian installs each major version's server programs here, outside PATH.
_DEBIAN_PG_BINS = Path("/usr/lib/postgresql")
_INSTALL_HINT = "install Debian's packages: `apt-get install postgresql redis-server` (`make scale-services`)"
DB_USER = "airflow"
DB_NAME = "airflow"


class ServiceError(RuntimeError):
    """PostgreSQL or Redis could not start."""


@dataclass
class Service:
    """A running server process and its throwaway folder."""

    name: str
    port: int
    folder: Path
    process: subprocess.Popen[bytes]

    @property
    def log_path(self) -> Path:
        return self.folder / f"{self.name}.log"

    def diagnostics(self, lines: int = 30) -> str:
        code = self.process.poll()
        state = "running" if code is None else f"exited with code {code}"
        return f"---- {self.name} ({state}), last lines of {self.log_path}:\n{tail(self.log_path, lines)}"


def _postgres_bindir() -> Path:
    """The folder of ``initdb`` and ``postgres``: on PATH, else Debian's newest installed version."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(
        (p for p in _DEBIAN_PG_BINS.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not versions:
        raise ServiceError(
            f"PostgreSQL's initdb was not found on PATH nor under {_DEBIAN_PG_BINS}: {_INSTALL_HINT}."
        )
    return versions[-1]


def _server_user() -> pwd.struct_passwd | None:
    """PostgreSQL refuses to run as root: as root, run it as the ``postgres`` account the package creates."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise ServiceError(
            f"Running as root, PostgreSQL needs the 'postgres' account to run as: {_INSTALL_HINT}."
        ) from None


def _run_as(user: pwd.struct_passwd | None) -> dict[str, object]:
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _wait_for_port(service: Service, ready: bytes | None = None, probe: bytes = b"") -> None:
    """Until the port accepts a connection (and answers ``ready`` to ``probe``), or the process exits."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            break
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", service.port), timeout=1) as s,
        ):
            if ready is None:
                return
            s.sendall(probe)
            if s.recv(64).startswith(ready):
                return
        time.sleep(0.2)
    raise ServiceError(f"{service.name} did not start within {START_TIMEOUT:.0f} s.\n{service.diagnostics()}")


def stop_service(service: Service, sig: int = signal.SIGTERM) -> None:
    """Stop the server (its whole process group if it lingers) and remove its folder."""
    if service.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            service.process.send_signal(sig)
        try:
            service.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait(timeout=STOP_TIMEOUT)
    shutil.rmtree(service.folder, ignore_errors=True)


@contextlib.contextmanager
def postgres(bindir: Path | None = None) -> Iterator[Service]:
    """A fresh PostgreSQL cluster with an ``airflow`` database owned by the ``airflow`` superuser (trust
    authentication on 127.0.0.1), stopped and deleted afterwards.

    :param bindir: the folder of ``initdb`` and ``postgres`` to run; default: the distribution's.
    """
    bindir = _postgres_bindir() if bindir is None else bindir
    user = _server_user()
    # mkdtemp, not pytest's tmp_path: pytest's folders are private to this user, and the server may run
    # as another one.
    folder = Path(tempfile.mkdtemp(prefix="test-postgres-"))
    if user is not None:
        os.chown(folder, user.pw_uid, user.pw_gid)
    data = folder / "data"
    env = clean_environ() | {"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    init = subprocess.run(
        [str(bindir / "initdb"), "-D", str(data), "-U", DB_USER, "--auth=trust", "-E", "UTF8", "--no-sync"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        **_run_as(user),
    )
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise ServiceError(
            f"initdb failed with code {init.returncode}:\n{(init.stdout + init.stderr)[-3000:]}"
        )
    port = free_port()
    settings = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(folder),
        "max_connections": "300",
        # A throwaway database: durability costs time and buys nothing here.
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
    }
    args = [str(bindir / "postgres"), "-D", str(data), "-p", str(port)]
    for key, value in settings.items():
        args += ["-c", f"{key}={value}"]
    process = start_logged(args, folder / "postgres.log", env, folder, **_run_as(user))
    service = Service("postgres", port, folder, process)
    try:
        _wait_for_port(service)
        _create_database(service)
        yield service
    finally:
        # SIGINT is PostgreSQL's fast shutdown: no waiting for clients, which are being stopped anyway.
        stop_service(service, signal.SIGINT)


def _create_database(service: Service) -> None:
    import psycopg2

    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            conn = psycopg2.connect(host="127.0.0.1", port=service.port, user=DB_USER, dbname="postgres")
            break
        except psycopg2.OperationalError as exc:
            # Listening before it accepts logins ("the database system is starting up").
            if time.monotonic() > deadline or service.process.poll() is not None:
                raise ServiceError(
                    f"PostgreSQL refused the connection: {exc}\n{service.diagnostics()}"
                ) from None
            time.sleep(0.2)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {DB_NAME}")
    finally:
        conn.close()


def postgres_url(service: Service, driver: str = "postgresql+psycopg2") -> str:
    """The SQLAlchemy URL of the service's ``airflow`` database."""
    return f"{driver}://{DB_USER}@127.0.0.1:{service.port}/{DB_NAME}"


@contextlib.contextmanager
def redis() -> Iterator[Service]:
    """A Redis server with no persistence, stopped and deleted afterwards."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise ServiceError(f"redis-server was not found on PATH: {_INSTALL_HINT}.")
    folder = Path(tempfile.mkdtemp(prefix="scale-redis-"))
    port = free_port()
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", str(folder), "--daemonize", "no"]
    process = start_logged(args, folder / "redis.log", clean_environ(), folder)
    service = Service("redis", port, folder, process)
    try:
        _wait_for_port(service, ready=b"+PONG", probe=b"PING\r\n")
        yield service
    finally:
        stop_service(service)
