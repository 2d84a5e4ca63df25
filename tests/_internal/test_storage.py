"""Files named by URIs: a file URI's escapes decoded, an object store's keys as written, and which
errors while reading are permanent (a missing file) or left to Airflow's retries (a timeout, a 5xx).

The failing storage is a real fsspec file system registered for a test protocol, read through
``ObjectStoragePath`` in ``dag.test()`` runs as a DAG author's task reads an ``s3://`` file.
"""

from __future__ import annotations

import io
import json
from typing import ClassVar

import pytest
from airflow.sdk import ObjectStoragePath
from fsspec.implementations.memory import MemoryFileSystem

from airflow_provider_huggingface._internal.airflow_compat import AirflowFailException
from airflow_provider_huggingface._internal.storage import reading_failed, storage_path
from airflow_provider_huggingface.batch.inputs import open_inputs
from airflow_provider_huggingface.exceptions import ConfigurationError, StorageReadError
from tests.airflow_internals import task_log

PROTOCOL = "flakystore"
TOKEN = "hf_storagetestcanary00001"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 24


class FlakyStore(MemoryFileSystem):
    """An object store in memory whose next opens raise the errors queued in ``failures``."""

    protocol = PROTOCOL
    store: ClassVar[dict] = {}
    pseudo_dirs: ClassVar[list] = [""]
    failures: ClassVar[list[Exception]] = []
    opened: ClassVar[list[str]] = []
    cut_off_after: ClassVar[int | None] = None  # bytes read before the connection drops

    @classmethod
    def _strip_protocol(cls, path):
        return super()._strip_protocol(str(path).removeprefix(f"{PROTOCOL}://"))

    def _open(self, path, mode="rb", **kwargs):
        self.opened.append(path)
        if self.failures:
            raise self.failures.pop(0)
        if self.cut_off_after is not None:
            return io.BufferedReader(
                CutOff(self.store[self._strip_protocol(path)].getvalue(), self.cut_off_after)
            )
        return super()._open(path, mode, **kwargs)


class CutOff(io.RawIOBase):
    """A download whose connection drops after ``size`` bytes."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.size, self.position = data, size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.position >= self.size:
            raise ConnectionResetError(104, "Connection reset by peer")
        chunk = self.data[self.position : min(self.size, self.position + len(buffer))]
        buffer[: len(chunk)] = chunk
        self.position += len(chunk)
        return len(chunk)


@pytest.fixture
def flaky_store():
    """``flakystore://`` attached as Airflow attaches an object store; emptied after the test."""
    import fsspec
    from airflow.sdk.io import attach
    from upath import registry

    fsspec.register_implementation(PROTOCOL, FlakyStore, clobber=True)
    registry.register_implementation(PROTOCOL, "upath.implementations.memory.MemoryPath", clobber=True)
    attach(PROTOCOL, fs=FlakyStore())
    yield FlakyStore
    FlakyStore.store.clear()
    FlakyStore.failures.clear()
    FlakyStore.opened.clear()
    FlakyStore.cut_off_after = None


@pytest.fixture
def fake_conn(fake_hf, use_connection):
    use_connection("hf_fake", host=fake_hf.url, password=TOKEN, extra={"max_retries": 0})
    fake_hf.reply = lambda body: "re: " + json.dumps(body["messages"][-1]["content"])[:40]
    return fake_hf


def finished(dag_run) -> dict:
    """Each task's state and tries."""
    return {ti.task_id: (str(ti.state), ti.try_number) for ti in dag_run.get_task_instances()}


# ---------------------------------------------------------------------------------------------
# Names


def test_a_file_uri_is_percent_decoded_as_path_as_uri_writes_it(tmp_path):
    folder = tmp_path / "my data"
    folder.mkdir()
    (folder / "in.csv").write_text("text\nhi\n")
    uri = (folder / "in.csv").as_uri()
    assert "%20" in uri
    for name in (uri, ObjectStoragePath(uri), uri.replace("file:///", "file://localhost/")):
        path = storage_path(name)
        assert path.read_text() == "text\nhi\n"
        assert path.path == str(folder / "in.csv")


def test_a_name_that_really_holds_an_escape_is_still_found(tmp_path):
    # What a batch writes for a run_id holding "/": a folder named a%2Fb, not a folder a/b.
    folder = tmp_path / "a%2Fb"
    folder.mkdir()
    (folder / "x.jsonl").write_text("1\n")
    assert storage_path((folder / "x.jsonl").as_uri().replace("%252F", "%2F")).read_text() == "1\n"
    # A folder still to be made (an output_path) is named as decoded.
    assert storage_path(f"{tmp_path.as_uri()}/new%20folder/").path == f"{tmp_path}/new folder"


def test_an_object_stores_key_is_taken_as_written(flaky_store):
    # fsspec, s3fs and gcsfs take a key as written: a key may hold a "%" of its own.
    flaky_store().pipe("/bucket/a%20b.jsonl", b'"literal"\n')
    path = storage_path(f"{PROTOCOL}://bucket/a%20b.jsonl")
    assert path.path.endswith("/bucket/a%20b.jsonl")
    assert path.read_text() == '"literal"\n'
    assert storage_path("s3://bucket/a%20b/c.csv").path == "bucket/a%20b/c.csv"


# ---------------------------------------------------------------------------------------------
# Errors: permanent or left to Airflow's retries


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (FileNotFoundError(2, "No such file"), "there is no such file"),
        (IsADirectoryError(21, "Is a directory"), "names a folder, not a file"),
        (ValueError("No filesystem registered for scheme s3"), "Airflow provider of its scheme"),
    ],
)
def test_a_missing_file_or_a_bad_name_is_permanent(error, words):
    with pytest.raises(ConfigurationError, match=words) as raised:
        reading_failed(error, "inputs='s3://b/in.csv'")
    assert isinstance(raised.value, AirflowFailException)
    assert "inputs='s3://b/in.csv'" in str(raised.value)


@pytest.mark.parametrize(
    "error",
    [
        TimeoutError("read timed out"),
        ConnectionResetError(104, "Connection reset by peer"),
        OSError("503 Slow Down"),
        PermissionError(13, "ExpiredToken: the security token included in the request is expired"),
        RuntimeError("HttpError 500: backend error"),  # gcsfs raises its own, no OSError
    ],
)
def test_other_errors_are_left_to_airflows_retries(error):
    with pytest.raises(StorageReadError) as raised:
        reading_failed(error, "images[0] ('s3://b/car.png')")
    assert not isinstance(raised.value, AirflowFailException)
    assert raised.value.retryable
    message = str(raised.value)
    assert message.startswith(f"images[0] ('s3://b/car.png') could not be read: {type(error).__name__}: ")
    assert str(error) in message
    assert raised.value.__cause__ is error  # the traceback reaches the store's own error


def test_a_read_cut_off_mid_file_is_left_to_retries(flaky_store):
    flaky_store().pipe("/bucket/in.jsonl", b'"a line"\n' * 10_000)
    flaky_store.cut_off_after = 20_000
    with pytest.raises(StorageReadError) as raised:
        list(open_inputs(f"{PROTOCOL}://bucket/in.jsonl"))
    assert str(raised.value).startswith(
        f"inputs='{PROTOCOL}:///bucket/in.jsonl' could not be read: ConnectionResetError: [Errno 104]"
    )
    assert not isinstance(raised.value, AirflowFailException)


def test_a_batch_whose_input_file_times_out_is_retried_and_resumes(
    fake_conn, flaky_store, dagbag, capsys, caplog
):
    flaky_store().pipe("/bucket/in.jsonl", b'{"text": "one"}\n{"text": "two"}\n')
    flaky_store.failures.append(TimeoutError("read timed out"))
    dag_run = dagbag["hf_inputs_file"].test(run_conf={"inputs": f"{PROTOCOL}://bucket/in.jsonl"})
    assert finished(dag_run) == {"batch": ("success", 2)}  # the first try failed, the retry read it
    assert sorted(r.body["messages"][-1]["content"] for r in fake_conn.chat_requests) == ["one", "two"]
    log = task_log(capsys, caplog)
    name = f"inputs='{PROTOCOL}:///bucket/in.jsonl'"
    assert f"StorageReadError: {name} could not be read: TimeoutError: read timed out" in log


def test_a_file_gone_from_the_store_fails_at_once(fake_conn, flaky_store, dagbag, capsys, caplog):
    dag_run = dagbag["hf_inputs_file"].test(run_conf={"inputs": f"{PROTOCOL}://bucket/gone.csv"})
    assert finished(dag_run) == {"batch": ("failed", 1)}  # no retry spent on it
    assert "gone.csv': there is no such file" in task_log(capsys, caplog)
    assert fake_conn.chat_requests == []


def test_an_image_whose_store_answers_503_is_retried(fake_conn, flaky_store, dagbag, capsys, caplog):
    flaky_store().pipe("/claims/car.png", PNG)
    flaky_store.failures.append(OSError("503 Service Unavailable: Slow Down"))
    dag_run = dagbag["hf_inputs_image"].test(run_conf={"image": f"{PROTOCOL}://claims/car.png"})
    assert finished(dag_run) == {"look": ("success", 2)}
    (request,) = fake_conn.chat_requests
    assert request.body["messages"][-1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    log = task_log(capsys, caplog)
    assert (
        "StorageReadError: images[0] ('flakystore://claims/car.png') could not be read: OSError: 503" in log
    )
