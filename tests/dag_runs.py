"""Fixtures that run DAGs for real: ``dagbag``, ``use_connection``, ``run_dag``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_huggingface._internal import model_check as models
from tests.airflow_internals import dag_bag

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    """The test DAGs and the example DAGs, parsed as Airflow parses a DAGs folder."""
    bags = [dag_bag(folder) for folder in (ROOT / "tests" / "dags", ROOT / "example_dags")]
    for bag in bags:
        assert not bag.import_errors, bag.import_errors
    return {dag_id: dag for bag in bags for dag_id, dag in bag.dags.items()}


@pytest.fixture
def use_connection(monkeypatch):
    """Point a connection id at a server: ``use_connection("hf_fake", host=url, extra={...})``."""

    def use(conn_id: str, **conn: Any) -> None:
        conn.setdefault("conn_type", "huggingface")
        extra = conn.setdefault("extra", {})
        extra.setdefault("backoff", 0.01)
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))

    models.clear_cache()
    yield use
    models.clear_cache()


class Run:
    """A finished DAG run: its ids, its state and each task's XCom return_value."""

    def __init__(self, dag_run: Any) -> None:
        self.dag_id = dag_run.dag_id
        self.run_id = dag_run.run_id
        self.state = str(dag_run.state)
        self.states: dict[str, str] = {}
        self.xcom: dict[str, Any] = {}
        for ti in dag_run.get_task_instances():
            key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
            self.states[key] = str(ti.state)
            self.xcom[key] = ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index)

    def rendered_fields(self, task_id: str, map_index: int = -1) -> dict[str, Any]:
        """A task's rendered template fields as the metadata DB holds them (the UI and CLI read these)."""
        from airflow.models.renderedtifields import RenderedTaskInstanceFields as Fields
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            return session.scalars(
                select(Fields.rendered_fields).where(
                    Fields.dag_id == self.dag_id,
                    Fields.run_id == self.run_id,
                    Fields.task_id == task_id,
                    Fields.map_index == map_index,
                )
            ).one()


@pytest.fixture
def run_dag(dagbag):
    """Run a DAG of tests/dags with ``dag.test()``: a real metadata DB, real XCom."""

    def run(dag_id: str, **kwargs: Any) -> Run:
        return Run(dagbag[dag_id].test(**kwargs))

    return run
