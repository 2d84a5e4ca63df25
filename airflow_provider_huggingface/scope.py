"""What a prompt template can name: upstream XCom values by task id, and the run's context."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface.templating import referenced_roots

if TYPE_CHECKING:
    from airflow.sdk import Context

_CONTEXT_NAMES = ("ds", "ts", "run_id")


def prompt_scope(context: Context, templates: Iterable[str | None], **extra: Any) -> dict[str, Any]:
    """The names a set of templates may use, pulling only the XComs they reference.

    A task inside a TaskGroup, ``group.task``, nests as ``{"group": {"task": value}}``.

    :param context: the running task's Airflow context.
    :param templates: the prompt templates about to be rendered.
    :param extra: more names, e.g. the batch operator's ``item``; they win over task ids.
    """
    roots: set[str] = set()
    for template in templates:
        if template:
            roots |= referenced_roots(template)
    scope: dict[str, Any] = {name: _plain(context.get(name)) for name in _CONTEXT_NAMES if context.get(name)}
    ti = context["ti"]
    scope["dag_id"] = ti.dag_id
    scope["task_id"] = ti.task_id
    scope["params"] = dict(context.get("params") or {})
    dag_run = context.get("dag_run")
    scope["conf"] = dict(getattr(dag_run, "conf", None) or {})
    logical_date = context.get("logical_date")
    if logical_date is not None:
        scope["logical_date"] = logical_date.isoformat()
    for task_id in _task_ids(context):
        root = task_id.partition(".")[0]
        if root not in roots or root in scope or root in extra:
            continue
        value = _plain(ti.xcom_pull(task_ids=task_id))
        _nest(scope, task_id.split("."), value)
    scope.update(extra)
    return scope


def names_in_scope(context: Context) -> list[str]:
    """Every top-level name a template could use, for error messages."""
    task_roots = {task_id.partition(".")[0] for task_id in _task_ids(context)}
    return sorted(task_roots | set(_CONTEXT_NAMES) | {"dag_id", "task_id", "params", "conf", "logical_date"})


def _task_ids(context: Context) -> list[str]:
    dag = context.get("dag")
    own = context["ti"].task_id
    return [task_id for task_id in getattr(dag, "task_ids", ()) if task_id != own]


def _nest(scope: dict[str, Any], path: list[str], value: Any) -> None:
    node = scope
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def _plain(value: Any) -> Any:
    """XCom values as plain data: a mapped task's values become a list."""
    if isinstance(value, (str, bytes, Mapping)) or value is None:
        return value
    if isinstance(value, Sequence) or type(value).__name__ == "LazyXComSequence":
        return [_plain(v) for v in value]
    return value
