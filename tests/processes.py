"""Helpers for the tiers that start Airflow's own processes (the UI, scheduler and scale tiers)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.fakes.hf_api import FakeHF

# The test session's own Airflow settings and any Hugging Face login must not leak into a server.
_NOT_INHERITED = re.compile(r"^(AIRFLOW_|HF_|HUGGING_FACE_HUB_)")

STARTUP_TIMEOUT = 90.0
STOP_GRACE = 5.0
TERMINAL_RUN_STATES = frozenset({"success", "failed"})
TERMINAL_TASK_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
# The components /api/v2/monitor/health reports; each must be up before a test triggers anything.
COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def clean_environ() -> dict[str, str]:
    """This process's environment without Airflow or Hugging Face variables."""
    return {k: v for k, v in os.environ.items() if not _NOT_INHERITED.match(k)}


def tail(path: Path, lines: int) -> str:
    """The last lines of a log file, for failure messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def airflow_executable(tier: str) -> Path:
    """The ``airflow`` command of this environment; the test fails (never skips) without it."""
    exe = Path(sys.executable).with_name("airflow")
    if not exe.exists():
        pytest.fail(
            f"The {tier} tier needs the airflow command next to {sys.executable}; "
            "install apache-airflow into this environment.",
            pytrace=False,
        )
    return exe


def migrate_db(airflow: Path, env: dict[str, str], home: Path, *, timeout: float = 180.0) -> None:
    """``airflow db migrate`` for a server's fresh home; the test fails with its output if it fails."""
    migrate = subprocess.run(
        [str(airflow), "db", "migrate"],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if migrate.returncode != 0:
        output = "\n".join((migrate.stdout + migrate.stderr).splitlines()[-60:])
        pytest.fail(f"`airflow db migrate` failed with code {migrate.returncode}:\n{output}", pytrace=False)


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

    def wait_for_task_state(
        self, dag_id: str, run_id: str, task_id: str, states: set[str], timeout: float = 120.0
    ) -> dict[str, Any]:
        """The task instance once it is in one of ``states``; fails with the task states if it ends in
        another, or is in none of them within ``timeout``."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        deadline = time.monotonic() + timeout
        while True:
            instance = self.api(path)
            if instance["state"] in states:
                return instance
            ended = instance["state"] in TERMINAL_TASK_STATES
            if (
                ended
                or time.monotonic() > deadline
                or any(p.poll() is not None for p in self.processes.values())
            ):
                raise AssertionError(
                    f"{task_id} of {run_id} did not reach {sorted(states)} within {timeout:.0f} s (state "
                    f"{instance['state']}); tasks: {self.task_states(dag_id, run_id)}\n{self.diagnostics()}"
                )
            time.sleep(0.2)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        instances = self.api(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti["state"] for ti in instances}

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        """A task's XCom value (of one map index of a mapped task), as the REST API returns it."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.api(f"{path}?map_index={map_index}")["value"]

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> str:
        """A task try's log as read through the REST API: its structured events, one JSON line each."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        query = urllib.parse.urlencode({"full_content": "true", "map_index": map_index})
        content = self.api(f"{path}?{query}")["content"]
        if isinstance(content, str):
            return content
        return "\n".join(json.dumps(event) if not isinstance(event, str) else event for event in content)


def stack_env(home: Path, fake_url: str, api_port: int, *, dags_folder: Path, token: str) -> dict[str, str]:
    """The environment every process of a stack shares: same DB, keys, connection and API address.

    SQLite and the LocalExecutor; a tier on another database or executor overrides those variables.
    """
    from cryptography.fernet import Fernet

    env = clean_environ()
    connection = {
        "conn_type": "huggingface",
        "host": fake_url,
        "password": token,
        # Small backoff and timeout: the fake answers at once, and a failure should show quickly.
        "extra": {"backoff": 0.01, "timeout": 10, "max_retries": 2},
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
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
            # The DAG processor imports the repository's DAG files; keep it free of bytecode.
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def start_logged(
    args: list[str], log_path: Path, env: dict[str, str], cwd: Path, **popen: Any
) -> subprocess.Popen[bytes]:
    """Start ``args`` in its own process group (so stopping it also stops what it forked), stdout and
    stderr in ``log_path``."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **popen,
        )


def start_airflow(
    airflow: Path, name: str, args: list[str], env: dict[str, str], home: Path
) -> subprocess.Popen[bytes]:
    """``airflow <args>`` in its own process group, its output in ``<home>/<name>.log``."""
    return start_logged([str(airflow), *args], home / f"{name}.log", env, home)


def start_core(stack: AirflowStack, airflow: Path, env: dict[str, str], api_port: int) -> None:
    """Start the API server, scheduler, DAG processor and triggerer into ``stack.processes``."""
    for name, args in (
        ("api-server", ["api-server", "-H", "127.0.0.1", "-p", str(api_port)]),
        ("scheduler", ["scheduler"]),
        ("dag-processor", ["dag-processor"]),
        ("triggerer", ["triggerer"]),
    ):
        stack.processes[name] = start_airflow(airflow, name, args, env, stack.home)


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


def health_problem(stack: AirflowStack) -> str | None:
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


def wait_until_healthy(stack: AirflowStack, timeout: float = STARTUP_TIMEOUT) -> None:
    """Wait until every component reports healthy; the test fails with the processes' logs otherwise."""
    deadline = time.monotonic() + timeout
    problem = health_problem(stack)
    while problem is not None and time.monotonic() < deadline and "exited" not in problem:
        time.sleep(0.5)
        problem = health_problem(stack)
    if problem is not None:
        pytest.fail(
            f"The Airflow processes did not come up within {timeout:.0f} s: {problem}\n{stack.diagnostics()}",
            pytrace=False,
        )


def wait_for_pid(pidfile: Path, stack: AirflowStack, timeout: float = 120.0) -> int:
    """The pid a task wrote in ``pidfile`` (its ``on_execute_callback``), once it is there."""
    deadline = time.monotonic() + timeout
    while not pidfile.exists() or not pidfile.read_text():
        if time.monotonic() > deadline:
            raise AssertionError(f"the task did not start within {timeout:.0f} s\n{stack.diagnostics()}")
        time.sleep(0.1)
    return int(pidfile.read_text())
