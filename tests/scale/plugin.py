"""Fixtures of the scale tier: Airflow on the CeleryExecutor with two workers (:mod:`tests.scale.cluster`).

``celery_stack`` (session) starts PostgreSQL, Redis, Airflow's processes and two Celery workers once for
every scale test, with a ``FakeHF`` in this process; ``scale_stack`` (function) is that stack with the
fake reset and both workers running (a test may have killed one).

The tier is opt-in: its tests run only when the ``-m`` expression names ``scale`` (``make test-scale``),
so the quick tiers and the main ``pytest`` run of ``make test`` leave them out without saying so. It
fails, never skips, when PostgreSQL, Redis or a Celery worker cannot start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.fakes.hf_api import FakeHF
from tests.scale.cluster import WORKERS, celery_cluster
from tests.services import ServiceError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.scale.cluster import CeleryStack


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the scale tests out unless the run asked for them by marker."""
    if "scale" in (config.option.markexpr or ""):
        return
    left_out = [item for item in items if item.get_closest_marker("scale")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("scale")]


@pytest.fixture(scope="session")
def celery_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CeleryStack]:
    """PostgreSQL, Redis, API server, scheduler, DAG processor, triggerer and two Celery workers."""
    fake = FakeHF().start()
    try:
        with celery_cluster(fake, tmp_path_factory.mktemp("scale-home")) as stack:
            yield stack
    except ServiceError as exc:
        pytest.fail(f"The scale tier could not start: {exc}", pytrace=False)
    finally:
        fake.stop()


@pytest.fixture
def scale_stack(celery_stack: CeleryStack) -> Iterator[CeleryStack]:
    """The session's cluster with its fake reset and every worker running."""
    stack = celery_stack
    restarted = [name for name, concurrency in WORKERS if name not in stack.processes]
    for name in restarted:
        stack.start_worker(name, dict(WORKERS)[name])
    if restarted:
        stack.wait_for_workers()
    stack.fake.reset()
    try:
        yield stack
    finally:
        stack.fake.reset()
