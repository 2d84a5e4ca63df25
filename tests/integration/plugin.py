"""Fixtures of the scheduler tier: Airflow's own processes running the example DAGs against a fake HF API.

``airflow_stack`` (module) migrates a fresh SQLite metadata DB in its own AIRFLOW_HOME, then starts
``airflow api-server``, ``scheduler``, ``dag-processor`` and ``triggerer`` from this interpreter's
environment with the LocalExecutor (Airflow 3's default, which accepts SQLite), the repository's
``example_dags/`` as the DAGs folder, no login (every user is an admin) and ``huggingface_default``
pointing at a ``FakeHF`` of its own. ``scheduler_stack`` (function) is the same stack with the fake reset.

Every process writes its own log file under the stack's home; ``AirflowStack.diagnostics()`` gives their
tails, so a failed assertion explains itself. The fixture fails, never skips, when a process does not
come up: a scheduler tier that quietly does nothing would hide a provider that cannot run in Airflow.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.fakes.hf_api import FakeHF
from tests.processes import airflow_executable, clean_environ, free_port, migrate_db, tail

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = ROOT / "example_dags"
# The token the stack's connection sends; tests make the fake reject it to see the 401 path.
CONNECTION_TOKEN = "hf_itestConnectionToken42"
STARTUP_TIMEOUT = 90.0
MIGRATE_TIMEOUT = 180.0
STOP_GRACE = 5.0
TERMINAL_RUN_STATES = frozenset({"success", "failed"})
# The components /api/v2/monitor/health reports; each must be up before a test triggers anything.
COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
# Variables of the calling environment the processes must not inherit: tests/conftest.py points AIRFLOW_*
# at the unit tests' own home and DB, and an ambient Hugging Face login must never be used.


class ApiError(AssertionError):
    """A REST call answered an error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class AirflowStack:
    """Running Airflow processes, their fake Hugging Face API, and helpers to drive them over REST."""

    url: str
    home: Path
    fake: FakeHF
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log_path(self, name: str) -> Path:
        return self.home / f"{name}.log"

    def diagnostics(self, lines: int = 40) -> str:
        """Each process's state and the last lines of its log, for failure messages."""
        parts = []
        for name, process in self.processes.items():
            code = process.poll()
            state = "running" if code is None else f"exited with code {code}"
            parts.append(f"---- {name} ({state}), last lines of {self.log_path(name)}:\n")
            parts.append(tail(self.log_path(name), lines))
        return "\n".join(parts)

    def api(self, path: str, method: str = "GET", body: Any = None, timeout: float = 30.0) -> Any:
        """Call the REST API and return its JSON. No token is needed: with all-admins, the simple auth
        manager's middleware signs every request itself."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise ApiError(f"{method} {path} answered {exc.code}: {exc.read()[:2000]!r}", exc.code) from None
        return json.loads(raw) if raw else None

    def wait_for_dag(self, dag_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The DAG once the DAG processor has stored it; fails with the import errors otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.api(f"/api/v2/dags/{dag_id}")
            except ApiError as exc:
                if exc.status != 404 or time.monotonic() > deadline:
                    errors = self.api("/api/v2/importErrors")
                    raise AssertionError(
                        f"DAG {dag_id} did not appear within {timeout:.0f} s ({exc}); import errors: "
                        f"{json.dumps(errors)[:3000]}\n{self.diagnostics()}"
                    ) from None
            time.sleep(0.5)

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any] | None = None) -> dict[str, Any]:
        """Unpause the DAG and start a manual run."""
        self.api(f"/api/v2/dags/{dag_id}", "PATCH", {"is_paused": False})
        return self.api(
            f"/api/v2/dags/{dag_id}/dagRuns",
            "POST",
            {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}},
        )

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180.0) -> dict[str, Any]:
        """The run once it has finished; fails with the task states and process logs if it does not."""
        deadline = time.monotonic() + timeout
        run: dict[str, Any] = {}
        while time.monotonic() < deadline:
            run = self.api(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in TERMINAL_RUN_STATES:
                return run
            dead = [name for name, p in self.processes.items() if p.poll() is not None]
            if dead:
                break
            time.sleep(0.5)
        raise AssertionError(
            f"Run {run_id} of {dag_id} did not finish within {timeout:.0f} s (state {run.get('state')}); "
            f"tasks: {self.task_states(dag_id, run_id)}\n{self.diagnostics()}"
        )

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        instances = self.api(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti["state"] for ti in instances}

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """A task's XCom value, as the REST API returns it."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.api(path)["value"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """A task try's log as read through the REST API: its structured events, one JSON line each."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        content = self.api(path + "?" + urllib.parse.urlencode({"full_content": "true"}))["content"]
        if isinstance(content, str):
            return content
        return "\n".join(json.dumps(event) if not isinstance(event, str) else event for event in content)


def stack_env(home: Path, fake_url: str, api_port: int) -> dict[str, str]:
    """The environment every process of the stack shares: same DB, keys, connection and API address."""
    from cryptography.fernet import Fernet

    env = clean_environ()
    connection = {
        "conn_type": "huggingface",
        "host": fake_url,
        "password": CONNECTION_TOKEN,
        # Small backoff and timeout: the fake answers at once, and a failure should show quickly.
        "extra": {"backoff": 0.01, "timeout": 10, "max_retries": 2},
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLE_DAGS),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            # Workers reach the task Execution API of our API server, signing with one shared key
            # (each process would otherwise make up its own).
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            # LocalExecutor forks `parallelism` workers up front: 32 by default, too many for CI.
            "AIRFLOW__CORE__PARALLELISM": "4",
            # The defaults are tuned for production (5 s heartbeats, 30-300 s parsing intervals).
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "600",
            # Not the fixed defaults (8793/8794): two sessions on one machine must not collide.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
            "AIRFLOW_CONN_HUGGINGFACE_DEFAULT": json.dumps(connection),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HOME": str(home / "huggingface"),
            "PYTHONUNBUFFERED": "1",
            # The DAG processor imports example_dags/; keep the repository free of bytecode.
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def _start(airflow: Path, name: str, args: list[str], env: dict[str, str], home: Path) -> subprocess.Popen:
    with (home / f"{name}.log").open("wb") as log:
        # Its own process group, so stopping it also stops the workers and task processes it forked.
        return subprocess.Popen(
            [str(airflow), *args],
            env=env,
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every leader at once, give them STOP_GRACE seconds together, then SIGKILL every group.

    The DB is thrown away, so a graceful stop is a courtesy, not a need: Airflow's own shutdown waits
    for running tasks and trigger runners and can take 15 s or more on a busy machine.
    """
    for process in processes:
        if process.poll() is None:
            # The leader only: signalled as a group, the triggerer's supervisor waits ~10 s for a
            # trigger runner that already got the signal.
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.05, deadline - time.monotonic()))
    for process in processes:
        # Also whatever a leader that did exit left behind: workers, task supervisors, log servers.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


def _health_problem(stack: AirflowStack) -> str | None:
    """None once every component reports healthy, else what is still missing."""
    dead = {name: p.returncode for name, p in stack.processes.items() if p.poll() is not None}
    if dead:
        return f"process(es) exited: {dead}"
    try:
        health = stack.api("/api/v2/monitor/health", timeout=5)
    except (OSError, ApiError) as exc:
        return f"health check failed: {exc}"
    missing = [c for c in COMPONENTS if (health.get(c) or {}).get("status") != "healthy"]
    return f"not healthy yet: {', '.join(missing)}" if missing else None


@pytest.fixture(scope="module")
def airflow_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    """Scheduler, DAG processor, triggerer and API server on a fresh SQLite DB, all healthy."""
    airflow = airflow_executable("scheduler")
    home = tmp_path_factory.mktemp("airflow-stack-home")
    fake = FakeHF().start()
    api_port = free_port()
    env = stack_env(home, fake.url, api_port)
    stack = AirflowStack(url=f"http://127.0.0.1:{api_port}", home=home, fake=fake)
    try:
        migrate_db(airflow, env, home, timeout=MIGRATE_TIMEOUT)
        for name, args in (
            ("api-server", ["api-server", "-H", "127.0.0.1", "-p", str(api_port)]),
            ("scheduler", ["scheduler"]),
            ("dag-processor", ["dag-processor"]),
            ("triggerer", ["triggerer"]),
        ):
            stack.processes[name] = _start(airflow, name, args, env, home)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        problem = _health_problem(stack)
        while problem is not None and time.monotonic() < deadline and "exited" not in problem:
            time.sleep(0.5)
            problem = _health_problem(stack)
        if problem is not None:
            pytest.fail(
                f"The Airflow processes did not come up within {STARTUP_TIMEOUT:.0f} s: {problem}\n"
                f"{stack.diagnostics()}",
                pytrace=False,
            )
        yield stack
    finally:
        # Clients first, the API server they talk to last.
        stop_processes(list(reversed(stack.processes.values())))
        fake.stop()


@pytest.fixture
def scheduler_stack(airflow_stack: AirflowStack) -> Iterator[AirflowStack]:
    """The module's stack with its fake reset before and after the test."""
    airflow_stack.fake.reset()
    try:
        yield airflow_stack
    finally:
        airflow_stack.fake.reset()
