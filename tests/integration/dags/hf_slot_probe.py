"""One plain task, to show that a worker slot is free: the agent tests run it while an agent waits for a
person, with the default pool cut to one slot."""

from __future__ import annotations

from airflow.sdk import DAG, task

with DAG(dag_id="hf_slot_probe", schedule=None):

    @task
    def probe() -> int:
        import os

        return os.getpid()

    probe()
