"""An agent's journal: what it already did, replayed instead of done again.

Every finished model turn, tool call and review is recorded as it finishes, in order. Run again (on
a retry, or when a deferred task resumes), the agent's steps are replayed against the journal: a
model turn whose request matches the one recorded is not sent (it was paid for), a tool call that
finished is not run (its side effects happened), a review already answered is not asked again. The
first step that differs from the record (a prompt edited before the run was cleared and run again)
ends the replay: what was recorded after it is dropped, and the agent goes on from there.

A tool call is recorded as started before its function runs: a call that started but never finished
(the worker was killed inside it) is not run again; the model is told its outcome is unknown. A tool
with side effects runs at most once per call, whatever the retries.

The journal is kept in Airflow 3.3's task state store (the next try of the task instance reads it);
on older Airflow lines it lives as long as the try (its deferrals carry it), and a retry starts over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

#: The task state store key of an agent's journal.
STATE_KEY = "huggingface_agent/journal"


class Journal:
    """The recorded events of one agent run: ``{"kind", "key", "value"}`` dicts, in order.

    :param events: what an earlier try or deferral recorded.
    :param save: called with all the events after each new one (the task state store's ``set``).
    """

    def __init__(
        self,
        events: list[dict[str, Any]] | None = None,
        *,
        save: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self.events: list[dict[str, Any]] = list(events or ())
        self._save = save
        self._cursor = 0
        self.replayed = 0

    @classmethod
    def of_task(cls, context: Any, carried: list[dict[str, Any]] | None = None) -> Journal:
        """The journal of this task instance: its task state store's (Airflow 3.3+), else the one a
        deferral carried (``next_kwargs``), else a new one."""
        store = context.get("task_state_store")
        if store is None:
            return cls(carried)

        def save(events: list[dict[str, Any]]) -> None:
            store.set(STATE_KEY, events)

        return cls(store.get(STATE_KEY, None) or carried, save=save)

    @property
    def durable(self) -> bool:
        """Whether the journal outlives this try (a retry replays it)."""
        return self._save is not None

    def replay(self, kind: str, key: str) -> Any:
        """The value recorded for the next step if it is this one (``kind``, ``key``), else None.

        A recorded step that differs ends the replay: it and all after it are dropped.
        """
        if self._cursor >= len(self.events):
            return None
        event = self.events[self._cursor]
        if event["kind"] != kind or event["key"] != key:
            del self.events[self._cursor :]
            self._persist()
            return None
        self._cursor += 1
        self.replayed += 1
        return event["value"]

    def record(self, kind: str, key: str, value: Any) -> None:
        """Record a finished step after what was replayed, and save the journal."""
        del self.events[self._cursor :]
        self.events.append({"kind": kind, "key": key, "value": value})
        self._cursor = len(self.events)
        self._persist()

    def add(self, kind: str, key: str, value: Any) -> None:
        """Record a step that finished away from the replay (a deferred turn's reply, a review's
        answer), after all that is recorded, and save the journal."""
        self.events.append({"kind": kind, "key": key, "value": value})
        self._persist()

    def _persist(self) -> None:
        if self._save is not None:
            self._save(self.events)
