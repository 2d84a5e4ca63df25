"""Fixtures of the browser tier: a real Airflow API server and headless Chromium.

``airflow_server`` (session) runs ``airflow api-server`` from this interpreter's environment in its own
fresh AIRFLOW_HOME (SQLite DB migrated first, a Fernet key, the Test button enabled, no login), with the
Hugging Face Hub pointed at the session's fake (``fake_hf_server``). ``chromium_browser`` (session) is
headless Chromium under Playwright's sync API; ``ui_page`` (function) is a fresh page whose relative URLs
go to the server, and which leaves ``artifacts/ui/failed-<test>.png`` behind when its test fails.

Both session fixtures fail, never skip, when Chromium or the server is missing: a browser tier that
quietly does nothing would hide a broken connection form.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.processes import airflow_executable, clean_environ, free_port, migrate_db, start_logged, tail

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Browser, Page

    from tests.fakes.hf_api import FakeHF

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "ui"
# Debian's package; Playwright's own browser download is never used here.
CHROMIUM_FALLBACK = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
UI_TIMEOUT_MS = 30_000
STARTUP_TIMEOUT = 60.0
MIGRATE_TIMEOUT = 180.0
STOP_TIMEOUT = 20.0
VIEWPORT = {"width": 1400, "height": 1100}
# Variables of the calling environment the server must not inherit: tests/conftest.py points AIRFLOW_*
# at the unit tests' own home and DB, and an ambient Hugging Face login must never be used.

_FAILED = pytest.StashKey[bool]()


@dataclass
class AirflowServer:
    """A running ``airflow api-server`` and what a test needs to look behind it."""

    url: str
    home: Path
    db_path: Path
    log_path: Path
    fernet_key: str
    process: subprocess.Popen[bytes]

    def logtail(self, lines: int = 80) -> str:
        """The last lines of the server's combined stdout/stderr."""
        return tail(self.log_path, lines)

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        """Call the server's REST API (no login needed: every user is an admin) and return its JSON."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path} answered {exc.code}: {exc.read()[:2000]!r}") from exc
        return json.loads(raw) if raw else None

    def delete_connection(self, conn_id: str) -> None:
        """Delete a connection if it exists."""
        request = urllib.request.Request(f"{self.url}/api/v2/connections/{conn_id}", method="DELETE")
        try:
            urllib.request.urlopen(request, timeout=30).close()
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise

    def db_rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a query on the server's SQLite DB, opened read-only."""
        db = sqlite3.connect(f"{self.db_path.as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()


def _server_env(home: Path, fernet_key: str, hf_endpoint: str) -> dict[str, str]:
    env = clean_environ()
    dags = home / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": fernet_key,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            # huggingface_hub reads these at import, inside the server, where test_connection() runs.
            "HF_ENDPOINT": hf_endpoint,
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HOME": str(home / "huggingface"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the server's process group; kill it if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)


def _wait_until_up(server: AirflowServer, deadline: float) -> str | None:
    """None once the server answers its health check, else why it never did."""
    last = "no answer yet"
    while time.monotonic() < deadline:
        code = server.process.poll()
        if code is not None:
            return f"the server exited with code {code}"
        try:
            with urllib.request.urlopen(f"{server.url}/api/v2/monitor/health", timeout=5) as response:
                if response.status == 200:
                    return None
                last = f"health answered {response.status}"
        except (OSError, urllib.error.URLError) as exc:
            last = f"health check failed: {exc}"
        time.sleep(0.25)
    return f"it did not answer within {STARTUP_TIMEOUT:.0f} s ({last})"


def _start_server(
    airflow: Path, env: dict[str, str], home: Path, fernet_key: str
) -> tuple[AirflowServer, str | None]:
    """Start the server on a free port; the problem is None once it answers. A port taken by someone
    else between choosing and binding it gets another try."""
    log_path = home / "api-server.log"
    for _attempt in range(3):
        port = free_port()
        process = start_logged(
            [str(airflow), "api-server", "-H", "127.0.0.1", "-p", str(port)], log_path, env, home
        )
        server = AirflowServer(
            url=f"http://127.0.0.1:{port}",
            home=home,
            db_path=home / "airflow.db",
            log_path=log_path,
            fernet_key=fernet_key,
            process=process,
        )
        problem = _wait_until_up(server, time.monotonic() + STARTUP_TIMEOUT)
        if problem is None:
            return server, None
        _stop(process)
        if "address already in use" not in server.logtail():
            break
    return server, problem


@pytest.fixture(scope="session")
def airflow_server(
    fake_hf_server: FakeHF, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AirflowServer]:
    """A real Airflow API server on a free port, with its own fresh AIRFLOW_HOME and SQLite DB."""
    from cryptography.fernet import Fernet

    airflow = airflow_executable("browser")
    home = tmp_path_factory.mktemp("airflow-ui-home")
    fernet_key = Fernet.generate_key().decode()
    env = _server_env(home, fernet_key, fake_hf_server.url)

    migrate_db(airflow, env, home, timeout=MIGRATE_TIMEOUT)

    server, problem = _start_server(airflow, env, home, fernet_key)
    try:
        if problem is not None:
            pytest.fail(
                f"The Airflow API server at {server.url} did not come up: {problem}.\n"
                f"Last lines of {server.log_path}:\n{server.logtail()}",
                pytrace=False,
            )
        yield server
    finally:
        _stop(server.process)
        # Keep the server's log next to the screenshots: it is what explains a failed UI step.
        with contextlib.suppress(OSError):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(server.log_path, ARTIFACTS / "api-server.log")


def chromium_path() -> str:
    """Debian's chromium, or fail: the browser tier must never pass without a browser."""
    path = shutil.which("chromium") or (CHROMIUM_FALLBACK if os.access(CHROMIUM_FALLBACK, os.X_OK) else None)
    if path is None:
        pytest.fail(
            "The browser tier needs Chromium: install Debian's `chromium` package "
            "(apt-get install chromium). Playwright's own browser download is not used.",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Browser]:
    """Headless Chromium driven by Playwright's sync API."""
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"The browser tier needs Playwright (pip install playwright): {exc}", pytrace=False)
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
    except Exception as exc:
        playwright.stop()
        pytest.fail(f"Chromium ({executable}) did not start under Playwright: {exc}", pytrace=False)
    try:
        yield browser
    finally:
        browser.close()
        playwright.stop()


@pytest.fixture
def ui_page(
    chromium_browser: Browser, airflow_server: AirflowServer, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A fresh page on the Airflow UI (relative URLs go to the server), 30 s auto-wait timeouts."""
    context = chromium_browser.new_context(base_url=airflow_server.url, viewport=VIEWPORT)
    context.set_default_timeout(UI_TIMEOUT_MS)
    context.set_default_navigation_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    failure_shot = ARTIFACTS / f"failed-{request.node.name}.png"
    failure_shot.unlink(missing_ok=True)
    try:
        yield page
    finally:
        if request.node.stash.get(_FAILED, False):
            with contextlib.suppress(Exception):
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(failure_shot), full_page=True)
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report
