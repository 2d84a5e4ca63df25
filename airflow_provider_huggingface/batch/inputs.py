"""A batch's inputs: a list in memory, or a JSON Lines or CSV file read as a stream.

A file is read again on each pass (the check before the first call, then the calls), a line at a
time, so memory does not grow with its size.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface._internal.airflow_compat import lines
from airflow_provider_huggingface.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow.sdk import ObjectStoragePath

_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


class ListInputs:
    """Inputs given as a list (or an upstream task's list)."""

    def __init__(self, items: Iterable[Any]) -> None:
        self._items = list(items)  # also reads a mapped task's lazy XCom sequence

    def __str__(self) -> str:
        return f"{len(self._items)} inputs"

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)


class FileInputs:
    """Inputs in a JSON Lines file (one JSON value per line) or a CSV file (one dict per row)."""

    def __init__(self, path: ObjectStoragePath) -> None:
        self.path = path
        suffix = path.suffix.lower()
        if suffix not in _FORMATS:
            raise ConfigurationError(
                f"inputs={str(path)!r}: a file of inputs must end in .jsonl (one JSON value per line), "
                f".ndjson or .csv (one row per call, read as a dict by its header), not {suffix or 'none'!r}."
            )
        self.format = _FORMATS[suffix]

    def __str__(self) -> str:
        return f"inputs from {self.path}"

    def __iter__(self) -> Iterator[Any]:
        try:
            source = self.path.open("r", encoding="utf-8", newline="")
        except FileNotFoundError:
            raise ConfigurationError(
                f"inputs={str(self.path)!r}: there is no such file. Check the path, or that an upstream "
                "task wrote it before this one."
            ) from None
        with source:
            yield from (self._csv(source) if self.format == "csv" else self._jsonl(source))

    def _jsonl(self, source: Any) -> Iterator[Any]:
        for number, line in enumerate(lines(source), 1):
            if not line.strip():
                continue  # a blank line (the last newline, say) is no input
            try:
                yield json.loads(line)
            except ValueError as error:
                raise ConfigurationError(
                    f"inputs={str(self.path)!r} line {number} is not JSON ({error}): each line must be one "
                    'JSON value, such as {"q": "..."} or "text".'
                ) from None

    def _csv(self, source: Any) -> Iterator[Any]:
        reader = csv.DictReader(lines(source))
        for row in reader:
            if None in row:
                raise ConfigurationError(
                    f"inputs={str(self.path)!r} line {reader.line_num} has more fields than the header: "
                    "quote fields that hold commas."
                )
            yield row


def open_inputs(inputs: Any) -> ListInputs | FileInputs:
    """The rendered ``inputs`` argument as something to iterate (once per pass)."""
    from airflow.sdk import ObjectStoragePath

    if isinstance(inputs, ObjectStoragePath) or (isinstance(inputs, str) and "://" in inputs):
        return FileInputs(ObjectStoragePath(inputs))
    if isinstance(inputs, os.PathLike):
        return FileInputs(ObjectStoragePath(f"file://{os.path.abspath(inputs)}"))
    if isinstance(inputs, (str, bytes, Mapping)) or not isinstance(inputs, Iterable):
        hint = (
            " A Jinja template renders to a string: pass the upstream task's output itself "
            "(inputs=my_task.output), or set render_template_as_native_obj=True on the DAG. A file of "
            "inputs is named by a URI such as 'file:///data/in.jsonl'."
            if isinstance(inputs, str)
            else ""
        )
        raise ConfigurationError(
            f"inputs must be a list or a file (an ObjectStoragePath or URI of a .jsonl or .csv file), "
            f"not {type(inputs).__name__}.{hint}"
        )
    return ListInputs(inputs)
