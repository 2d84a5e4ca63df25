"""A batch's inputs: a list in memory, or a JSON Lines or CSV file read as a stream.

A file is read again on each pass (the check before the first call, then the calls), a line at a
time, so memory does not grow with its size.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface._internal.airflow_compat import lines
from airflow_provider_huggingface._internal.storage import reading_failed, storage_path
from airflow_provider_huggingface.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow.sdk import ObjectStoragePath

_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
_LONE_CR = re.compile(rb"(?<=\r)(?!\n)")
_SAVE_AS_UTF8 = (
    'Save it as UTF-8 (in Excel: Save As, "CSV UTF-8"), or convert it: iconv -f {encoding} -t UTF-8.'
)


class ListInputs:
    """Inputs given as a list (or an upstream task's list)."""

    def __init__(self, items: Iterable[Any]) -> None:
        self._items = list(items)  # also reads a mapped task's lazy XCom sequence

    def __str__(self) -> str:
        return f"{len(self._items)} inputs"

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)


class FileInputs:
    """Inputs in a JSON Lines file (one JSON value per line) or a CSV file (one dict per row).

    Read as UTF-8, a byte-order mark at the start (Excel's "CSV UTF-8") skipped; a file in another
    encoding is refused, naming the line and the byte where it stops being UTF-8.
    """

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
            # utf-8-sig skips the byte-order mark Excel's "CSV UTF-8" starts with (and reads UTF-8 alike).
            source = self.path.open("r", encoding="utf-8-sig", newline="")
        except Exception as error:
            reading_failed(error, self._name)
        with source:
            text = self._lines(source)
            yield from (self._csv(text) if self.format == "csv" else self._jsonl(text))

    @property
    def _name(self) -> str:
        return f"inputs={str(self.path)!r}"

    def _lines(self, source: Any) -> Iterator[str]:
        try:
            yield from lines(source)
        except UnicodeDecodeError:
            raise ConfigurationError(self._where_not_utf8()) from None
        except Exception as error:
            reading_failed(error, self._name)

    def _where_not_utf8(self) -> str:
        """Where the file stops being UTF-8, found by reading it again a line at a time (in bytes)."""
        with contextlib.suppress(Exception), self.path.open("rb") as raw:  # else, say what is known
            for number, line in enumerate(_physical_lines(raw), 1):
                if number == 1:
                    line = line.removeprefix(codecs.BOM_UTF8)
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as error:
                    return _not_utf8(self._name, line, number, error)
        return f"{self._name} is not UTF-8. {_SAVE_AS_UTF8.format(encoding='<its encoding>')}"

    def _jsonl(self, lines: Iterator[str]) -> Iterator[Any]:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue  # a blank line (the last newline, say) is no input
            try:
                yield json.loads(line)
            except ValueError as error:
                raise ConfigurationError(
                    f"{self._name} line {number} is not JSON ({error}): each line must be one "
                    'JSON value, such as {"q": "..."} or "text".'
                ) from None

    def _csv(self, lines: Iterator[str]) -> Iterator[Any]:
        reader = csv.DictReader(lines)
        for row in reader:
            if None in row:
                raise ConfigurationError(
                    f"{self._name} line {reader.line_num} has more fields than the header: "
                    "quote fields that hold commas."
                )
            yield row


def _physical_lines(raw: Any) -> Iterator[bytes]:
    """A binary file's lines, ended as text mode with ``newline=''`` ends them: LF, CRLF or a lone CR."""
    for line in iter(raw.readline, b""):
        if b"\r" not in line:
            yield line
        else:
            yield from (part for part in _LONE_CR.split(line) if part)


def _not_utf8(name: str, line: bytes, number: int, error: UnicodeDecodeError) -> str:
    byte = line[error.start]
    column = len(line[: error.start].decode("utf-8", "replace")) + 1
    if number == 1 and line.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        looks, encoding = ' It starts like UTF-16 (Excel\'s "Unicode Text").', "UTF-16"
    elif _decodes(line, "cp1252"):
        character = bytes([byte]).decode("cp1252")
        looks = f' It looks like Windows-1252 or Latin-1 (Excel\'s plain "CSV"), where it is {character!r}.'
        encoding = "WINDOWS-1252"
    else:
        looks, encoding = "", "<its encoding>"
    where = f"byte 0x{byte:02x} at line {number}, column {column}"
    return f"{name} is not UTF-8 ({where}).{looks} {_SAVE_AS_UTF8.format(encoding=encoding)}"


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def open_inputs(inputs: Any) -> ListInputs | FileInputs:
    """The rendered ``inputs`` argument as something to iterate (once per pass)."""
    from airflow.sdk import ObjectStoragePath

    if isinstance(inputs, ObjectStoragePath) or (isinstance(inputs, str) and "://" in inputs):
        return FileInputs(storage_path(inputs))
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
