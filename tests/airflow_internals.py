"""Airflow internals the tests reach into, where each Airflow 3 line keeps them.

The package's own moved names are in ``airflow_provider_huggingface._internal.airflow_compat``; these
are the test-only ones (parsing a DAGs folder, the providers manager), so the same tests run on every
line of the version matrix.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from packaging.version import Version

if TYPE_CHECKING:
    from pathlib import Path

AIRFLOW = Version(version("apache-airflow"))
# Airflow 3.2 reads a connection type's form (custom fields, relabelled and hidden fields) from provider
# info; 3.0 and 3.1 ask the hook's methods, and only when the FAB provider is installed.
FORM_FROM_PROVIDER_INFO = Version("3.2") <= AIRFLOW


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


def task_log(capsys: Any, caplog: Any) -> str:
    """What the tasks of a ``dag.test()`` run logged: Airflow 3.2+ prints it, 3.0 and 3.1 log a failed
    task's exception through the logging module instead."""
    captured = capsys.readouterr()
    return captured.out + captured.err + caplog.text
