"""Airflow internals the tests reach into, where each Airflow 3 line keeps them.

The package's own moved names are in ``airflow_provider_huggingface._internal.airflow_compat``; these
are the test-only ones (parsing a DAGs folder, the providers manager), so the same tests run on every
line of the version matrix.
"""

from __future__ import annotations

import inspect
import os
import re
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from packaging.version import Version

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

AIRFLOW = Version(version("apache-airflow"))
# Airflow 3.2 reads a connection type's form (custom fields, relabelled and hidden fields) from provider
# info; 3.0 and 3.1 ask the hook's methods, and only when the FAB provider is installed.
FORM_FROM_PROVIDER_INFO = Version("3.2") <= AIRFLOW
AIRFLOW_3_0 = Version("3.1") > AIRFLOW


def plain_console_tracebacks() -> None:
    """Print a failed task's traceback as plain text, as 3.1 and later do under ``dag.test()``.

    Airflow 3.0's console logging draws it in a 100-column rich panel: long messages wrap and their
    quoted words are coloured, so a test cannot find the message it checks. Real deployments log
    JSON, where the message is whole; this changes only how the test console shows it."""
    if not AIRFLOW_3_0:
        return
    import structlog

    def plain(self: Any, sio: Any, exc_info: Any) -> None:
        structlog.dev.plain_traceback(sio, exc_info)

    structlog.dev.RichTracebackFormatter.__call__ = plain  # every instance, the default one too


def share_in_process_execution_api() -> None:
    """Let every ``dag.test()`` task of the session talk to one in-process execution API.

    ``dag.test()`` builds a new execution API app for each task it runs, and building one (Cadwyn
    generating its versioned routers) costs about a second of CPU on Airflow 3.0 to 3.2, more than
    most tests themselves. A deployment runs one API server for all its tasks; so do the tests."""
    import functools

    from airflow.sdk.execution_time import supervisor

    if not hasattr(supervisor.in_process_api_server, "cache_info"):
        supervisor.in_process_api_server = functools.cache(supervisor.in_process_api_server)


def parse_each_bundle_once() -> None:
    """Let ``dag.test()`` parse and store each DAG bundle once a session, not at every call.

    Airflow 3.3's ``dag.test()`` parses the whole bundle that holds its DAG and writes every DAG of it to
    the metadata DB at each call (apache/airflow#64884: so that sibling DAGs exist too). That is 48 DAGs
    here, about 1.5 s of CPU per run, more than most tests themselves. The files do not change during a
    session, so every sync after a bundle's first writes nothing new: the first one is kept."""
    import functools
    from unittest import mock

    from airflow.sdk import DAG

    try:
        from airflow.dag_processing import dagbag
    except ImportError:  # a Task SDK without Airflow core: no bundle to sync
        return
    if not hasattr(dagbag, "BundleDagBag") or getattr(DAG.test, "parses_each_bundle_once", False):
        return  # lines before 3.3 write only the DAG under test; or done already
    parsed: dict[tuple[str, str], Any] = {}
    synced: set[tuple[str, str | None]] = set()
    bag_class, sync = dagbag.BundleDagBag, dagbag.sync_bag_to_db

    def bag_once(*, dag_folder: Any, bundle_path: Any, bundle_name: str, **kwargs: Any) -> Any:
        key = (bundle_name, str(bundle_path))
        if key not in parsed:
            parsed[key] = bag_class(
                dag_folder=dag_folder, bundle_path=bundle_path, bundle_name=bundle_name, **kwargs
            )
        return parsed[key]

    def sync_once(bag: Any, bundle_name: str, bundle_version: str | None, **kwargs: Any) -> None:
        if (bundle_name, bundle_version) not in synced:
            sync(bag, bundle_name, bundle_version, **kwargs)
            synced.add((bundle_name, bundle_version))

    real_test = DAG.test

    @functools.wraps(real_test)
    def test(self: Any, *args: Any, **kwargs: Any) -> Any:
        with mock.patch.multiple(dagbag, BundleDagBag=bag_once, sync_bag_to_db=sync_once):
            return real_test(self, *args, **kwargs)

    test.parses_each_bundle_once = True  # type: ignore[attr-defined]
    DAG.test = test


def dag_bag(folder: Path | str) -> Any:
    """A DagBag of ``folder``, parsed as Airflow parses a DAGs folder."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0 and 3.1
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=str(folder))


def taskflow_decorators() -> dict[str, Any]:
    """The ``@task.<name>`` decorators that providers register, as tasks see them."""
    try:
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime
    except ImportError:  # Airflow 3.0 and 3.1: one providers manager for everything
        from airflow.providers_manager import ProvidersManager

        return ProvidersManager().taskflow_decorators
    return ProvidersManagerTaskRuntime().taskflow_decorators


def listed_hook_name(conn_type: str) -> str:
    """The name the UI lists a connection type under."""
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    if hasattr(manager, "iter_connection_type_hook_ui_metadata"):  # Airflow 3.3; .hooks is deprecated there
        ui = {meta.connection_type: meta for meta in manager.iter_connection_type_hook_ui_metadata()}
        return ui[conn_type].hook_name
    return manager.hooks[conn_type].hook_name


# Airflow 3.0's dag.test() prints, at debug level, every message between a task and its in-process
# supervisor, bodies included: XCom values, trigger arguments, and each secret a task masks
# (MaskSecret: every connection password Airflow masks, whatever the provider). A deployment's
# supervisor logs at info; 3.1 and later keep those bodies out of dag.test() too.
_SUPERVISOR_ECHO = re.compile(
    r"^.*\[debug\s*\] (Sending request|Received message from task runner)\s.*$", re.MULTILINE
)


def without_supervisor_echo(output: str) -> str:
    """``dag.test()`` output without Airflow 3.0's debug transcript of task-supervisor messages."""
    if not AIRFLOW_3_0:
        return output
    return _SUPERVISOR_ECHO.sub("<Airflow 3.0's debug echo of a supervisor message>", output)


def task_log(capsys: Any, caplog: Any) -> str:
    """What the tasks of a ``dag.test()`` run logged: Airflow 3.2+ prints it, 3.0 and 3.1 log a failed
    task's exception through the logging module instead."""
    captured = capsys.readouterr()
    return without_supervisor_echo(captured.out + captured.err + caplog.text)


def stored_template_field(value: Any, name: str) -> Any:
    """What the task runner stores as the rendered template field ``name`` holding ``value``, under the
    current ``[core] max_templated_field_length``: each line truncates a long value its own way."""
    try:
        from airflow.sdk.execution_time.task_runner import _serialize_template_field
    except ImportError:  # Airflow 3.0 uses the core's
        from airflow.serialization.helpers import serialize_template_field as _serialize_template_field

    return _serialize_template_field(value, name)


def airflow_reads_connection(conn_id: str) -> bool:
    """Whether this Airflow hands connection ``conn_id`` to a hook (3.0 and 3.1 drop one whose extra is
    not valid JSON, as if it did not exist)."""
    from airflow_provider_huggingface._internal.airflow_compat import AirflowNotFoundException, BaseHook

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True


def use_stats(monkeypatch: Any, factory: Callable[[], Any]) -> None:
    """Make the logger ``factory`` builds the one Airflow's ``Stats`` sends to until the test ends, as a
    task process does when it starts. 3.3 keeps the logger in its stats module (and may also send the
    pre-3.3 metric names: off here); 3.0 to 3.2 keep it on the ``Stats`` class."""
    try:
        from airflow.sdk._shared.observability.metrics import stats
    except ImportError:  # Airflow 3.1
        stats = None
    if stats is not None and hasattr(stats, "_backend"):  # Airflow 3.3
        for name in ("_factory", "_backend", "_export_legacy_names"):
            monkeypatch.setattr(stats, name, getattr(stats, name))  # restored after the test
        stats.initialize(factory=factory, export_legacy_names=False)
        return
    from airflow_provider_huggingface._internal.airflow_compat import Stats

    monkeypatch.setattr(Stats, "instance", factory())
    if hasattr(Stats, "_instance_pid"):  # 3.1 and 3.2; 3.0 keeps the instance whatever the process
        monkeypatch.setattr(Stats, "_instance_pid", os.getpid())  # else Stats builds its own again


def stats_factory_from_config() -> Callable[[], Any]:
    """The logger factory a task process picks from the ``[metrics]`` settings."""
    try:
        from airflow.sdk.observability.metrics import stats_utils
    except ImportError:  # Airflow 3.1 picks it when airflow.stats is first imported: pick it again
        from airflow.configuration import conf
        from airflow.metrics import statsd_logger
        from airflow.metrics.base_stats_logger import NoStatsLogger
        from airflow.stats import Stats

        if conf.getboolean("metrics", "statsd_on"):
            return lambda: statsd_logger.get_statsd_logger(Stats)
        return NoStatsLogger
    if inspect.signature(stats_utils.get_stats_factory).parameters:  # Airflow 3.2 wants the Stats class
        from airflow.sdk.observability.stats import Stats

        return stats_utils.get_stats_factory(Stats)
    return stats_utils.get_stats_factory()


def statsd_logger(client_class: type, *, prefix: str, influxdb_tags: bool) -> Any:
    """Airflow's StatsD logger sending through ``client_class`` (in place of ``statsd.StatsClient``)."""
    try:
        from airflow.sdk._shared.observability.metrics.statsd_logger import get_statsd_logger
    except ImportError:  # Airflow 3.1
        from airflow.metrics.statsd_logger import SafeStatsdLogger
        from airflow.metrics.validators import PatternBlockListValidator, get_validator

        client = client_class("127.0.0.1", 8125, prefix, False)
        return SafeStatsdLogger(client, get_validator(), influxdb_tags, PatternBlockListValidator(None))
    return get_statsd_logger(
        stats_class=client_class,
        host="127.0.0.1",
        port=8125,
        prefix=prefix,
        influxdb_tags_enabled=influxdb_tags,
        statsd_influxdb_enabled=influxdb_tags,
    )


def xcom_refusal(value: Any) -> str:
    """The message with which this Airflow's XCom refuses to store ``value`` (each line words it its own
    way)."""
    from airflow.sdk.bases.xcom import BaseXCom

    try:
        BaseXCom.serialize_value(value)
    except (TypeError, ValueError) as exc:
        return str(exc)
    raise AssertionError(f"this Airflow's XCom stores {value!r}")
