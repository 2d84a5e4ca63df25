"""What a prompt template can name: upstream XCom values by task id, and the run's context.

Resolution of a path at the top of the scope (the renderer hands over its segments; a
``[...]`` segment is one segment, dots and all):

* A scope name (``params``, ``conf``, ``ds``, ``ts``, ``logical_date``, ``run_id``, ``dag_id``,
  ``task_id``, or an operator's own such as the batch's ``item``) is the first segment. A task
  whose id is a scope name cannot be reached; a warning says so when a template uses the name.
* Otherwise the leading segments, joined by ``.``, name a task id: ``{{fetch.data}}`` is the
  ``data`` of task ``fetch``, ``{{group.task.text}}`` the ``text`` of the task in a TaskGroup,
  ``{{[my task].text}}`` or ``{{[fetch.v2].text}}`` a task id with spaces or dots. When two task ids
  fit (tasks ``fetch`` and ``fetch.v2`` for ``{{fetch.v2.text}}``), the template is refused with
  both ids and how to write each.
* Leading segments that name a TaskGroup and no task give ``{task: value}`` of its tasks.
* Inside a mapped task group, a task of the same group is its value for this task's map index,
  as TaskFlow arguments inside the group are; from outside the group it is the list of all.

Only the XComs a template touches are pulled, each once.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface.prompts.syntax import TemplateProblem

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow.sdk import Context

__all__ = ["PromptScope", "prompt_scope"]

logger = logging.getLogger(__name__)

_CONTEXT_NAMES = ("ds", "ts", "run_id")
_UNSET = object()


def prompt_scope(context: Context, *, log: Any = None, **extra: Any) -> PromptScope:
    """The names a prompt template may use. An XCom is pulled only when a template touches it.

    :param context: the running task's Airflow context.
    :param log: where warnings go (the task's log); default: this module's logger.
    :param extra: more names, e.g. the batch operator's ``item``; they win over task ids.
    """
    ti = context["ti"]
    names: Mapping[str, Any] = context
    values: dict[str, Any] = {name: names[name] for name in _CONTEXT_NAMES if names.get(name)}
    values["dag_id"] = ti.dag_id
    values["task_id"] = ti.task_id
    values["params"] = dict(context.get("params") or {})
    values["conf"] = dict(getattr(context.get("dag_run"), "conf", None) or {})
    if context.get("logical_date") is not None:
        # The date itself, so that {{logical_date.year}} works; {{logical_date}} is its isoformat().
        values["logical_date"] = context["logical_date"]
    values.update(extra)
    own = ti.task_id
    task_ids = [task_id for task_id in getattr(context.get("dag"), "task_ids", ()) if task_id != own]
    return PromptScope(values, task_ids, _Puller(context), log=log)


class _Puller:
    """Pulls a task's return value; inside a mapped task group, the same map index of its tasks."""

    def __init__(self, context: Context) -> None:
        self.ti = context["ti"]
        task = context.get("task")
        group = getattr(task, "get_closest_mapped_task_group", lambda: None)()
        map_index = getattr(self.ti, "map_index", -1)
        self.same_index_prefix = (
            f"{group.group_id}." if group is not None and map_index is not None and map_index >= 0 else None
        )

    def __call__(self, task_id: str) -> Any:
        same_index = bool(self.same_index_prefix and task_id.startswith(self.same_index_prefix))
        try:
            if same_index:
                return _plain(self.ti.xcom_pull(task_ids=task_id, map_indexes=self.ti.map_index))
            return _plain(self.ti.xcom_pull(task_ids=task_id))
        except ImportError:
            # Airflow 3 reads XComs through the running task's supervisor; `airflow tasks render`
            # has none, and its own error names an internal.
            raise TemplateProblem(
                f"the value of task {task_id!r} can be read only while the task runs (`airflow tasks "
                "render` cannot read XComs); a finished run's Rendered Template view shows the prompt "
                "as sent."
            ) from None


class PromptScope(Mapping[str, Any]):
    """Scope names and task ids; task values pulled on first use.

    :param values: ready values by name (scope names); they win over task ids.
    :param task_ids: the task ids a template may name.
    :param pull: returns a task's value, given its id.
    :param log: where warnings go; default: this module's logger.
    """

    def __init__(
        self,
        values: Mapping[str, Any],
        task_ids: Sequence[str],
        pull: Any,
        *,
        log: Any = None,
    ) -> None:
        self._values = dict(values)
        self._task_ids = dict.fromkeys(task_ids)
        self._groups = {
            ".".join(parts[:end])
            for task_id in task_ids
            for parts in [task_id.split(".")]
            for end in range(1, len(parts))
        }
        self._pull = pull
        self._pulled: dict[str, Any] = {}
        self._warned: set[str] = set()
        self._log = log or logger
        # Listed in error messages: the names, then every task id as it must be written.
        self._names = list(dict.fromkeys([*self._values, *self._task_ids]))

    # Mapping: for first segments the renderer looks up without resolve_path (and for listings).
    def __getitem__(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        if name in self._task_ids:
            return self._task(name)
        if name in self._groups:
            return self._group(name)
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return name in self._values or name in self._task_ids or name in self._groups

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"PromptScope(names={list(self._values)}, pulled={list(self._pulled)})"

    def with_values(self, **values: Any) -> PromptScope:
        """This scope with some names set otherwise (a batch's ``item``); pulled values are shared."""
        view = copy.copy(self)
        view._values = {**self._values, **values}
        if not values.keys() <= self._values.keys():
            view._names = list(dict.fromkeys([*view._values, *self._task_ids]))
        return view

    def resolve_path(self, segments: Sequence[str]) -> tuple[int, Any]:
        """The value named by the leading segments of a path from the top of the scope.

        :return: how many segments it took and the value; ``(0, self)`` when none names anything
            here, for the renderer to report the missing name.
        :raises TemplateProblem: two task ids fit the path.
        """
        if not segments:
            return 0, self
        first = segments[0]
        if first in self._values:
            if first in self._task_ids or first in self._groups:
                self._warn_shadowed(first)
            return 1, self._values[first]
        fits = [end for end in range(1, len(segments) + 1) if ".".join(segments[:end]) in self._task_ids]
        if len(fits) > 1:
            raise TemplateProblem(_ambiguous(segments, fits))
        if fits:
            return fits[0], self._task(".".join(segments[: fits[0]]))
        for end in range(len(segments), 0, -1):
            if (prefix := ".".join(segments[:end])) in self._groups:
                return end, self._group(prefix)
        return 0, self

    def _task(self, task_id: str) -> Any:
        if task_id not in self._pulled:
            self._pulled[task_id] = self._pull(task_id)
        return self._pulled[task_id]

    def _group(self, prefix: str) -> dict[str, Any]:
        nested: dict[str, Any] = {}
        for task_id in self._task_ids:
            if not task_id.startswith(f"{prefix}."):
                continue
            *parents, leaf = task_id[len(prefix) + 1 :].split(".")
            node: Any = nested
            for part in parents:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    break  # a task id and a group share this name: the path form reaches the task
            else:
                node.setdefault(leaf, self._task(task_id))
        return nested

    def _warn_shadowed(self, name: str) -> None:
        if name in self._warned:
            return
        self._warned.add(name)
        self._log.warning(
            "A task or TaskGroup of this DAG is named %r, which is also a template scope name: "
            "{{%s...}} in a prompt is the scope's %s, not that task's value. Rename the task "
            "(task_id) to use its value in a template.",
            name,
            name,
            name,
        )


def _ambiguous(segments: Sequence[str], fits: list[int]) -> str:
    ids = [".".join(segments[:end]) for end in fits]
    ways = "; ".join(
        f"{_written(segments, end, end == fits[-1])} for task {task_id!r}"
        for task_id, end in zip(ids, fits, strict=True)
    )
    return (
        f"{{{{{'.'.join(segments)}}}}} could name task {' or task '.join(map(repr, ids))}, since task ids "
        f"may hold dots. Say which: {ways}."
    )


def _written(segments: Sequence[str], end: int, longest: bool) -> str:
    """The path that names only the task of the first ``end`` segments."""
    task_id, rest = ".".join(segments[:end]), ".".join(segments[end:])
    if longest:  # one [segment] no shorter task id can match
        return "{{" + ".".join(filter(None, [f"[{task_id}]", rest])) + "}}"
    # A shorter id is a prefix of a longer one whatever the brackets: step into it with #with.
    return f"{{{{#with [{task_id}]}}}}{{{{{rest or 'this'}}}}}{{{{/with}}}}"


def _plain(value: Any) -> Any:
    """XCom values as plain data: a mapped task's values become a list."""
    if isinstance(value, (str, bytes, Mapping)) or value is None:
        return value
    if isinstance(value, Sequence) or type(value).__name__ == "LazyXComSequence":
        return [_plain(v) for v in value]
    return value
