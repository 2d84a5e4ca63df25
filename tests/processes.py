"""Helpers for the tiers that start Airflow's own processes (the UI tier, the scheduler tier)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

# The test session's own Airflow settings and any Hugging Face login must not leak into a server.
_NOT_INHERITED = re.compile(r"^(AIRFLOW_|HF_|HUGGING_FACE_HUB_)")


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
