"""Where a batch's replies are kept as they arrive: one JSON Lines file per task instance
(:class:`ReplyFile`), or, without a file, in memory for the XCom (:class:`InMemoryResults`).

Each line is one item's outcome, written and flushed as soon as it is known::

    {"index": 3, "input": ..., "text": "...", "model": "...", "finish_reason": "stop", "usage": {...}}
    {"index": 4, "input": ..., "error": {"class": "...", "message": "...", "status_code": 400}}

A retry of the same task instance (same dag, run, task and map index) finds the file, keeps its
answers and sends only the rest: a paid reply is never paid for again. An answer is kept only for
the same request (``"request"``: a digest of the model, the messages and the settings sent), so a
prompt edited before the run is cleared and run again is asked anew. The file is then rewritten
with those answers alone, so that once a try ends it holds at most one line per index; an index
without a line was not sent. A failure whose reply was paid for (JSON that did not fit, with no
budget left to ask again) keeps that reply beside its error.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface._internal.airflow_compat import lines
from airflow_provider_huggingface._internal.chat import add_usage, no_usage
from airflow_provider_huggingface.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow.sdk import ObjectStoragePath

    from airflow_provider_huggingface._internal.chat import ChatRequest, ChatResult, TokenUsage
    from airflow_provider_huggingface.exceptions import HuggingFaceError

# The XCom object storage backend's setting; its folder also holds batches' replies by default.
XCOM_STORAGE = ("common.io", "xcom_objectstorage_path")


def error_entry(index: int, kind: str, message: str, status_code: int | None = None) -> dict[str, Any]:
    """An item's failure, as the XCom's results and the file's lines hold it."""
    return {"index": index, "error": {"class": kind, "message": message, "status_code": status_code}}


def failure(index: int, error: HuggingFaceError) -> dict[str, Any]:
    """An item's failure, with the reply it paid for when there is one (a structured-output error's)."""
    entry = error_entry(index, type(error).__name__, str(error), error.status_code)
    paid = getattr(error, "result", None)
    return entry if paid is None else {**entry, **{k: v for k, v in paid.items() if k != "json"}}


def as_storage_path(value: Any, *, field: str) -> ObjectStoragePath:
    """An ``ObjectStoragePath`` from one, or from a URI string such as ``file:///data/run1/``; a
    ``file://`` URI's escapes decoded (see :mod:`airflow_provider_huggingface._internal.storage`)."""
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_huggingface._internal.storage import storage_path

    if isinstance(value, ObjectStoragePath) or (isinstance(value, str) and "://" in value):
        return storage_path(value)
    raise ConfigurationError(
        f"{field}={value!r} is not a storage location: give an ObjectStoragePath or a URI such as "
        "'file:///data/run1/' or 's3://bucket/prefix/' (with a connection: 's3://aws_default@bucket/prefix/')."
    )


def output_folder(output_path: Any) -> ObjectStoragePath | None:
    """The folder of a task's files: ``output_path``, else the XCom object storage folder, else None."""
    if output_path not in (None, ""):
        return as_storage_path(output_path, field="output_path")
    return default_folder()


def default_folder() -> ObjectStoragePath | None:
    """The XCom object storage backend's folder, when one is configured, else None."""
    from airflow_provider_huggingface._internal.airflow_compat import conf

    configured = conf.get(*XCOM_STORAGE, fallback="")
    if not configured:
        return None
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(configured) / "huggingface_batch"


def task_instance_file(folder: ObjectStoragePath, ti: Any) -> ObjectStoragePath:
    """``<folder>/<dag_id>/<run_id>/<task_id>.jsonl``; ``.../<task_id>/<map_index>.jsonl`` when mapped.

    Every try of a task instance gets the same name, so a retry finds what the last try wrote.
    """
    run = folder / _part(ti.dag_id) / _part(ti.run_id)
    map_index = getattr(ti, "map_index", -1)
    if map_index is None or map_index < 0:
        return run / f"{_part(ti.task_id)}.jsonl"
    return run / _part(ti.task_id) / f"{map_index}.jsonl"


def json_text(entry: dict[str, Any]) -> str:
    """``entry`` as JSON that can be written as UTF-8."""
    text = json.dumps(entry, ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (a reply may hold one, escaped in its JSON): \u escapes keep it, and the line.
        text = json.dumps(entry, default=str)
    return text


def _line(entry: dict[str, Any]) -> str:
    return json_text(entry) + "\n"


def _part(name: str) -> str:
    # Airflow's ids hold no '/', but a custom run_id could: it must not add a folder level.
    return str(name).replace("/", "%2F")


class TaskFile:
    """One task instance's JSON Lines file: read back what a previous try answered, then append.
    A line per item, ``{"index", ..., "request": digest}`` (an ``"error"`` line is sent again).

    :param path: the file (see :func:`task_instance_file`).
    """

    def __init__(self, path: ObjectStoragePath) -> None:
        self.path = path
        self._out: Any = None

    def __str__(self) -> str:
        return str(self.path)

    def earlier_answers(self) -> dict[int, str]:
        """Index -> request digest of every item a previous try answered (errors are sent again)."""
        answered: dict[int, str] = {}
        for entry in self._entries():
            if "error" not in entry and isinstance(entry.get("request"), str):
                answered.setdefault(entry["index"], entry["request"])
        return answered

    def keep(self, indices: set[int]) -> TokenUsage:
        """Rewrite the file with the answers of ``indices`` alone; return their summed usage.

        Written beside the file and moved over it, so a crash here leaves the old file whole.
        """
        usage = no_usage()
        if not indices:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return usage
        kept: set[int] = set()
        temporary = self.path.parent / f".{self.path.name}.rewrite"
        with temporary.open("w", encoding="utf-8") as out:
            for entry, line in self._entries(raw=True):
                index = entry["index"]
                if "error" in entry or index not in indices or index in kept:
                    continue
                kept.add(index)
                usage = add_usage(usage, entry.get("usage")) or usage
                out.write(line)
        temporary.rename(self.path)
        return usage

    def _entries(self, raw: bool = False) -> Iterator[Any]:
        try:
            source = self.path.open("r", encoding="utf-8")
        except FileNotFoundError:
            return
        with source:
            for number, line in enumerate(lines(source), 1):
                if not line.endswith("\n"):
                    break  # the last line of a try killed while writing it: that item is sent again
                try:
                    entry = json.loads(line)
                    int(entry["index"])
                except (ValueError, TypeError, KeyError):
                    raise ConfigurationError(
                        f"{self.path} line {number} is not a batch reply: this file is not one this "
                        "operator wrote. Give output_path a folder of its own, or delete the file."
                    ) from None
                yield (entry, line) if raw else entry

    def open(self) -> None:
        """Open for appending (creating the folders); each :meth:`write` is flushed at once."""
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = self.path.open("a", encoding="utf-8")

    def _write(self, *entries: dict[str, Any]) -> None:
        """Append the entries' lines, then flush them to the OS at once: a killed process loses none."""
        self._write_lines("".join(map(_line, entries)))

    def _write_lines(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


class ReplyFile(TaskFile):
    """A chat batch's file of replies (see the module's docstring)."""

    def answered(self, index: int, item: Any, request: ChatRequest, result: ChatResult) -> None:
        self._write({"index": index, "input": item, "request": request.digest, **result})

    def failed(self, index: int, item: Any, request: ChatRequest, error: HuggingFaceError) -> None:
        self._write({"input": item, **failure(index, error)})

    def xcom(self, summary: dict[str, Any], total: int, not_sent_message: str) -> dict[str, Any]:
        """What the task pushes: the file's path and the counts."""
        return {"output_path": str(self), **summary}


class InMemoryResults:
    """Outcomes kept for the XCom, in input order, when there is no file to write them to."""

    def __init__(self) -> None:
        self._results: dict[int, dict[str, Any]] = {}

    def answered(self, index: int, item: Any, request: ChatRequest, result: ChatResult) -> None:
        self._results[index] = dict(result)  # a ChatResult, among error entries

    def failed(self, index: int, item: Any, request: ChatRequest, error: HuggingFaceError) -> None:
        self._results[index] = failure(index, error)

    def results(self, total: int, not_sent_message: str) -> list[dict[str, Any]]:
        """Every item's outcome, in input order; an item with none was not sent."""
        return [self._results.get(i) or error_entry(i, "NotSent", not_sent_message) for i in range(total)]

    def xcom(self, summary: dict[str, Any], total: int, not_sent_message: str) -> dict[str, Any]:
        """What the task pushes: every item's outcome and the counts."""
        return {"results": self.results(total, not_sent_message), **summary}
