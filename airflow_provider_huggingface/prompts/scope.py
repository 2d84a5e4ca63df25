"""What a prompt template can name: upstream XCom values by task id, and the run's context."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface.prompts.renderer import LazyScope

if TYPE_CHECKING:
    from airflow.sdk import Context

_CONTEXT_NAMES = ("ds", "ts", "run_id")


def prompt_scope(context: Context, **extra: Any) -> LazyScope:
    """The names a prompt template may use. An XCom is pulled only when a template touches it.

    Every other task of the DAG is in scope by task id, resolving to its ``return_value``; a
    task inside a TaskGroup, ``group.task``, nests as ``{"group": {"task": value}}``.

    :param context: the running task's Airflow context.
    :param extra: more names, e.g. the batch operator's ``item``; they win over task ids.
    """
    ti = context["ti"]
    names: Mapping[str, Any] = context
    values: dict[str, Any] = {name: names[name] for name in _CONTEXT_NAMES if names.get(name)}
    values["dag_id"] = ti.dag_id
    values["task_id"] = ti.task_id
    values["params"] = dict(context.get("params") or {})
    values["conf"] = dict(getattr(context.get("dag_run"), "conf", None) or {})
    logical_date = context.get("logical_date")
    if logical_date is not None:
        values["logical_date"] = logical_date.isoformat()
    values.update(extra)
    loaders = {
        root: functools.partial(_pull, ti, root, task_ids)
        for root, task_ids in _tasks_by_root(context).items()
        if root not in values
    }
    return LazyScope(values, loaders)


def _tasks_by_root(context: Context) -> dict[str, list[str]]:
    own = context["ti"].task_id
    roots: dict[str, list[str]] = {}
    for task_id in getattr(context.get("dag"), "task_ids", ()):
        if task_id != own:
            roots.setdefault(task_id.partition(".")[0], []).append(task_id)
    return roots


def _pull(ti: Any, root: str, task_ids: list[str]) -> Any:
    if task_ids == [root]:
        return _plain(ti.xcom_pull(task_ids=root))
    group: dict[str, Any] = {}
    for task_id in task_ids:
        node = group
        *parents, leaf = task_id.split(".")[1:]
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = _plain(ti.xcom_pull(task_ids=task_id))
    return group


def _plain(value: Any) -> Any:
    """XCom values as plain data: a mapped task's values become a list."""
    if isinstance(value, (str, bytes, Mapping)) or value is None:
        return value
    if isinstance(value, Sequence) or type(value).__name__ == "LazyXComSequence":
        return [_plain(v) for v in value]
    return value
