"""Fixtures of the scheduler tier: Airflow's own processes running the example DAGs against a fake HF API.

``airflow_stack`` (module) migrates a fresh SQLite metadata DB in its own AIRFLOW_HOME, then starts
``airflow api-server``, ``scheduler``, ``dag-processor`` and ``triggerer`` from this interpreter's
environment with the LocalExecutor (Airflow 3's default, which accepts SQLite), the repository's
``example_dags/`` and the tier's own ``tests/integration/dags/`` as its DAGs, no login (every user is
an admin), ``huggingface_default`` pointing at a ``FakeHF`` of its own, and ``orders_db`` (the agent
example's SQLite file) in its home. ``scheduler_stack`` (function) is the same stack with the fake reset.

Every process writes its own log file under the stack's home; ``AirflowStack.diagnostics()`` gives their
tails, so a failed assertion explains itself. The fixture fails, never skips, when a process does not
come up: a scheduler tier that quietly does nothing would hide a provider that cannot run in Airflow.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.fakes.hf_api import FakeHF
from tests.processes import (
    AirflowStack,
    airflow_executable,
    free_port,
    migrate_db,
    stack_env,
    start_core,
    stop_processes,
    wait_until_healthy,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = ROOT / "example_dags"
TIER_DAGS = Path(__file__).resolve().parent / "dags"
# The token the stack's connection sends; tests make the fake reject it to see the 401 path.
CONNECTION_TOKEN = "hf_itestConnectionToken42"
MIGRATE_TIMEOUT = 180.0


@pytest.fixture(scope="module")
def airflow_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    """Scheduler, DAG processor, triggerer and API server on a fresh SQLite DB, all healthy."""
    airflow = airflow_executable("scheduler")
    home = tmp_path_factory.mktemp("airflow-stack-home")
    fake = FakeHF().start()
    api_port = free_port()
    # One DAGs folder: the examples as users get them, and the tier's own DAGs.
    dags = home / "dags"
    dags.mkdir()
    for dag_file in (*EXAMPLE_DAGS.glob("*.py"), *TIER_DAGS.glob("*.py")):
        shutil.copy(dag_file, dags)
    env = stack_env(home, fake.url, api_port, dags_folder=dags, token=CONNECTION_TOKEN)
    # The agent example's database: a SQLite file the example DAG's first task fills.
    env["AIRFLOW_CONN_ORDERS_DB"] = json.dumps({"conn_type": "sqlite", "host": str(home / "orders.db")})
    stack = AirflowStack(url=f"http://127.0.0.1:{api_port}", home=home, fake=fake)
    try:
        migrate_db(airflow, env, home, timeout=MIGRATE_TIMEOUT)
        start_core(stack, airflow, env, api_port)
        wait_until_healthy(stack)
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
