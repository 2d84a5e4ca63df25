"""A batch's replies kept in Airflow's task state store (Airflow 3.3+), for a batch without a file.

XCom is cleared when a task is retried, so without ``output_path`` a retry used to pay again for every
reply. The task state store (``context["task_state_store"]``) is kept for the next try of the same
task instance: the answers are saved there in chunks as the batch runs (every few seconds, from a
thread, never from the batch's event loop; chunks under Airflow's value size limit) and read back by
the next try, as a file of replies is. A crash loses only what arrived since the last save. They stay
after the task succeeds (a run cleared and run again reuses the answers of the same requests), unless
Airflow's ``[state_store] clear_on_success`` is on.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface._internal.chat import add_usage, no_usage
from airflow_provider_huggingface.batch.store import InMemoryResults

if TYPE_CHECKING:
    from airflow_provider_huggingface._internal.chat import ChatRequest, ChatResult, TokenUsage

PREFIX = "huggingface_batch"
_CHUNKS = f"{PREFIX}/chunks"
# A saved chunk stays under Airflow's [state_store] max_value_storage_bytes (64 kB by default).
_CHUNK_BYTES = 48_000


class StateStoreReplies(InMemoryResults):
    """The answers of this task instance, in memory for the XCom and saved to its task state store.

    :param store: ``context["task_state_store"]``.
    """

    def __init__(self, store: Any) -> None:
        super().__init__()
        self._store = store
        self._chunks = 0
        self._pending: list[dict[str, Any]] = []
        self._earlier: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()  # answers arrive on the loop while a save runs in a thread

    def __str__(self) -> str:
        return "the task state store"

    def earlier_answers(self) -> dict[int, str]:
        """Index -> request digest of every answer an earlier try saved."""
        self._chunks = int(self._store.get(_CHUNKS, 0) or 0)
        for number in range(self._chunks):
            for entry in self._store.get(f"{PREFIX}/{number}", None) or ():
                self._earlier[entry["index"]] = entry
        return {index: entry["request"] for index, entry in self._earlier.items()}

    def keep(self, indices: set[int]) -> TokenUsage:
        """Keep the answers of ``indices`` (their results join the XCom's); return their summed usage."""
        usage = no_usage()
        kept = []
        for index in sorted(indices):
            entry = self._earlier[index]
            self._results[index] = {k: v for k, v in entry.items() if k not in ("index", "request")}
            usage = add_usage(usage, entry.get("usage")) or usage
            kept.append(entry)
        self._earlier.clear()
        # Compacted, as a file of replies is rewritten with the answers it keeps.
        self._chunks = 0
        self._save(kept)
        self._store.set(_CHUNKS, self._chunks)
        return usage

    def answered(self, index: int, item: Any, request: ChatRequest, result: ChatResult) -> None:
        super().answered(index, item, request, result)
        with self._lock:
            self._pending.append({"index": index, "request": request.digest, **result})

    def open(self) -> None:
        """Nothing to open: the store is there."""

    def save(self) -> None:
        """Save the answers that arrived since the last save, as new chunks."""
        with self._lock:
            pending, self._pending = self._pending, []
        if pending:
            self._save(pending)
            self._store.set(_CHUNKS, self._chunks)

    def _save(self, entries: list[dict[str, Any]]) -> None:
        """Save ``entries`` as new chunks, each under the store's size limit (one big answer alone)."""
        chunk: list[dict[str, Any]] = []
        size = 0
        for entry in entries:
            entry_size = len(json.dumps(entry, default=str))
            if chunk and size + entry_size > _CHUNK_BYTES:
                self._put(chunk)
                chunk, size = [], 0
            chunk.append(entry)
            size += entry_size
        if chunk:
            self._put(chunk)

    def _put(self, chunk: list[dict[str, Any]]) -> None:
        self._store.set(f"{PREFIX}/{self._chunks}", chunk)
        self._chunks += 1

    async def asave(self) -> None:
        """:meth:`save` from the batch's event loop: the store is asked in a thread."""
        from airflow_provider_huggingface._internal.airflow_compat import run_blocking

        await run_blocking(self.save)

    def close(self) -> None:
        self.save()
