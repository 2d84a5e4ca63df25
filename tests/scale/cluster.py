"""Airflow with the CeleryExecutor, for real: PostgreSQL, Redis, Airflow's processes and Celery workers.

``celery_cluster(fake)`` starts PostgreSQL and Redis (:mod:`tests.services`), migrates the metadata
DB, starts the API server, scheduler, DAG processor and triggerer (:mod:`tests.processes`, the helpers of
the scheduler tier) and one ``airflow celery worker`` per entry of ``workers``, then yields a
:class:`CeleryStack`; everything is stopped and deleted afterwards. The DAGs are ``example_dags/`` and
``tests/scale/dags/``; ``huggingface_default`` and ``hf_scale`` point at ``fake``.

Each worker records its own name as the hostname of the task instances it runs (``[core]
hostname_callable``), so a test can tell through the REST API which worker ran what. Plain code, no
fixtures: the tier's plugin and ``bench/bench_scale.py`` both start the cluster with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests import services
from tests.processes import (
    AirflowStack,
    airflow_executable,
    free_port,
    migrate_db,
    stack_env,
    start_airflow,
    start_core,
    stop_processes,
    tail,
    wait_until_healthy,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.fakes.hf_api import FakeHF

ROOT = Path(__file__).resolve().parents[2]
SCALE_DAGS = Path(__file__).resolve().parent / "dags"
EXAMPLE_DAGS = ROOT / "example_dags"
CONNECTION_TOKEN = "hf_scaleConnectionToken42"
# (name, concurrency): two workers with four task slots each, so eight shards run at once.
WORKERS = (("worker-a", 4), ("worker-b", 4))
WORKER_READY_TIMEOUT = 90.0
MIGRATE_TIMEOUT = 240.0
# A task whose worker died is failed (and retried) once its heartbeats stop for this long; the default
# (300 s) suits production, not a test that kills a worker on purpose.
HEARTBEAT_TIMEOUT = 15


@dataclass
class CeleryStack(AirflowStack):
    """An :class:`AirflowStack` whose tasks run on Celery workers that a test can start and kill."""

    airflow: Path = Path("airflow")
    env: dict[str, str] = field(default_factory=dict)
    # name -> concurrency of every worker started so far.
    workers: dict[str, int] = field(default_factory=dict)

    def start_worker(self, name: str, concurrency: int) -> None:
        """Start ``airflow celery worker`` as ``name``; :meth:`wait_for_workers` waits until it consumes."""
        env = self.env | {
            # The hostname a task instance records: this worker's name, not the machine's.
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.scale.worker_name.hostname",
            "SCALE_WORKER_NAME": name,
        }
        args = ["celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", str(concurrency)]
        # Logs are read from the shared home's files; no log server per worker (they would share a port).
        args += ["--skip-serve-logs", "--without-gossip", "--without-mingle"]
        self.log_path(name).unlink(missing_ok=True)
        self.processes[name] = start_airflow(self.airflow, name, args, env, self.home)
        self.workers[name] = concurrency

    def wait_for_workers(self) -> None:
        """Until every running worker says it is ready to consume tasks.

        :raises services.ServiceError: a worker exited or stayed silent for WORKER_READY_TIMEOUT seconds.
        """
        deadline = time.monotonic() + WORKER_READY_TIMEOUT
        for name in self.workers:
            process = self.processes.get(name)
            while process is not None and " ready." not in tail(self.log_path(name), 200):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise services.ServiceError(
                        f"Celery worker {name} did not become ready within {WORKER_READY_TIMEOUT:.0f} s.\n"
                        f"{self.diagnostics()}"
                    )
                time.sleep(0.3)

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker and every process under it, as a crashed machine would end them.

        Airflow starts each task in a process group of its own, so killing the worker's group alone
        would leave its tasks running, orphaned.
        """
        import psutil

        process = self.processes.pop(name)
        try:
            tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        for member in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.kill()
        process.wait(timeout=10)
        psutil.wait_procs(tree, timeout=10)

    def stop_worker(self, name: str) -> None:
        """Stop an idle worker."""
        stop_processes([self.processes.pop(name)])

    def task_instances(self, dag_id: str, run_id: str, task_id: str | None = None) -> list[dict[str, Any]]:
        """The run's task instances (mapped ones one by one), optionally of one task."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000"
        instances = self.api(path)["task_instances"]
        return [ti for ti in instances if task_id is None or ti["task_id"] == task_id]

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> list[dict[str, Any]]:
        """Every try of one (mapped) task instance, the current one included."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/tries"
        return self.api(path)["task_instances"]


def cluster_env(
    stack_home: Path, fake: FakeHF, api_port: int, pg: services.Service, broker: services.Service
):
    """The shared environment of every process: the scheduler tier's, on PostgreSQL and Celery."""
    env = stack_env(stack_home, fake.url, api_port, dags_folder=EXAMPLE_DAGS, token=CONNECTION_TOKEN)
    bundles = [
        {
            "name": name,
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(path)},
        }
        for name, path in (("examples", EXAMPLE_DAGS), ("scale", SCALE_DAGS))
    ]
    # The batches' connection: patient with 429s (a shared rate limit is what the tier measures).
    scale_connection = {
        "conn_type": "huggingface",
        "host": fake.url,
        "password": CONNECTION_TOKEN,
        "extra": {"backoff": 0.05, "timeout": 30, "max_retries": 10},
    }
    env.update(
        {
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": services.postgres_url(pg),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": "32",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{broker.port}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": services.postgres_url(pg, "db+postgresql+psycopg2"),
            # One process polls task states instead of one per core.
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
            # Sending a task to Redis may take longer than the 1 s default on a busy 2-core machine.
            "AIRFLOW__CELERY__OPERATION_TIMEOUT": "10",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "AIRFLOW_CONN_HF_SCALE": json.dumps(scale_connection),
            # The scale DAGs and the workers' hostname callable import from tests/scale/.
            "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH")))),
        }
    )
    return env


@contextlib.contextmanager
def celery_cluster(
    fake: FakeHF, home: Path, workers: tuple[tuple[str, int], ...] = WORKERS
) -> Iterator[CeleryStack]:
    """PostgreSQL, Redis and Airflow on the CeleryExecutor with ``workers``, all up; stopped afterwards.

    :raises services.ServiceError: PostgreSQL, Redis or a Celery worker did not start.
    """
    airflow = airflow_executable("scale")
    with services.postgres() as pg, services.redis() as broker:
        api_port = free_port()
        env = cluster_env(home, fake, api_port, pg, broker)
        stack = CeleryStack(
            url=f"http://127.0.0.1:{api_port}", home=home, fake=fake, airflow=airflow, env=env
        )
        try:
            migrate_db(airflow, env, home, timeout=MIGRATE_TIMEOUT)
            start_core(stack, airflow, env, api_port)
            for name, concurrency in workers:
                stack.start_worker(name, concurrency)
            wait_until_healthy(stack)
            stack.wait_for_workers()
            yield stack
        finally:
            # Clients first, the API server they talk to last; the services stop after all of them.
            stop_processes(list(reversed(stack.processes.values())))
