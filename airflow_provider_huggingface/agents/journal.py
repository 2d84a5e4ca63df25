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

The journal is kept in Airflow 3.3's task state store (the next try of the task instance reads it), a
key per event; on older Airflow lines it lives as long as the try (its deferrals carry it), and a
retry starts over. It is forgotten once the agent answers: a task cleared and run again starts anew.
"""

from __future__ import annotations

from typing import Any

#: The task state store keys of an agent's journal: one per event (a value stays small, and a step
#: costs one write however long the journal), and their count.
STATE_PREFIX = "huggingface_agent/journal"
_COUNT = f"{STATE_PREFIX}/count"


class Journal:
    """The recorded events of one agent run: ``{"kind", "key", "value"}`` dicts, in order.

    :param events: what an earlier try or deferral recorded.
    :param store: the task state store that keeps the events for the next try, if any.
    """

    def __init__(self, events: list[dict[str, Any]] | None = None, *, store: Any = None) -> None:
        self.events: list[dict[str, Any]] = list(events or ())
        self._store = store
        self._cursor = 0
        self.replayed = 0

    @classmethod
    def of_task(cls, context: Any, carried: list[dict[str, Any]] | None = None) -> Journal:
        """The journal of this task instance: its task state store's (Airflow 3.3+), else the one a
        deferral carried (``next_kwargs``), else a new one."""
        store = context.get("task_state_store")
        if store is None:
            return cls(carried)
        count = int(store.get(_COUNT, 0) or 0)
        events = [store.get(f"{STATE_PREFIX}/{i}", None) for i in range(count)]
        if None in events:  # a key expired or was deleted by hand: replay what comes before it
            events = events[: events.index(None)]
        return cls(events, store=store)

    @property
    def durable(self) -> bool:
        """Whether the journal outlives this try (a retry replays it)."""
        return self._store is not None

    def replay(self, kind: str, key: str) -> Any:
        """The value recorded for the next step if it is this one (``kind``, ``key``), else None.

        A recorded step that differs ends the replay: it and all after it are dropped.
        """
        if self._cursor >= len(self.events):
            return None
        event = self.events[self._cursor]
        if event["kind"] != kind or event["key"] != key:
            self._truncate(self._cursor)
            return None
        self._cursor += 1
        self.replayed += 1
        return event["value"]

    def record(self, kind: str, key: str, value: Any) -> None:
        """Record a finished step after what was replayed, and save it."""
        self._truncate(self._cursor)
        self.add(kind, key, value)
        self._cursor = len(self.events)

    def add(self, kind: str, key: str, value: Any) -> None:
        """Record a step that finished away from the replay (a deferred turn's reply, a review's
        answer), after all that is recorded, and save it."""
        event = {"kind": kind, "key": key, "value": value}
        self.events.append(event)
        if self._store is not None:
            self._store.set(f"{STATE_PREFIX}/{len(self.events) - 1}", event)
            self._store.set(_COUNT, len(self.events))

    def finish(self) -> None:
        """Forget the run once it is over: a task cleared and run again starts anew."""
        if self._store is not None:
            for index in range(len(self.events)):
                self._store.delete(f"{STATE_PREFIX}/{index}")
            self._store.delete(_COUNT)

    def _truncate(self, length: int) -> None:
        if length < len(self.events):
            del self.events[length:]
            if self._store is not None:
                self._store.set(_COUNT, length)  # the keys past it are overwritten as steps are recorded
