"""The file of replies: one name per task instance, answers read back, a clean file after a resume."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from airflow_provider_huggingface._internal.chat import ChatRequest
from airflow_provider_huggingface.batch.store import (
    ReplyFile,
    as_storage_path,
    default_folder,
    task_instance_file,
)
from airflow_provider_huggingface.exceptions import ConfigurationError, ServiceUnavailableError


def ti(map_index: int = -1, run_id: str = "manual__2026-12-01T00:00:00+00:00") -> SimpleNamespace:
    return SimpleNamespace(dag_id="dag", run_id=run_id, task_id="group.batch", map_index=map_index)


@pytest.fixture
def folder(tmp_path):
    return as_storage_path(tmp_path.as_uri() + "/", field="output_path")


def request(item, prompt: str = "Say {}") -> ChatRequest:
    return ChatRequest(
        where="http://server",
        model="m",
        messages=[{"role": "user", "content": prompt.format(item)}],
        generation={},
    )


def answer(index: int, item, tokens: int = 3) -> dict:
    usage = {"prompt_tokens": 1, "completion_tokens": tokens - 1, "total_tokens": tokens}
    return {"text": f"re: {item}", "model": "m", "finish_reason": "stop", "usage": usage}


def test_each_task_instance_has_its_own_file_and_every_try_the_same(folder, tmp_path):
    run = "manual__2026-12-01T00:00:00+00:00"
    assert str(task_instance_file(folder, ti())) == f"{tmp_path.as_uri()}/dag/{run}/group.batch.jsonl"
    assert (
        str(task_instance_file(folder, ti(map_index=3)))
        == f"{tmp_path.as_uri()}/dag/{run}/group.batch/3.jsonl"
    )
    assert task_instance_file(folder, ti(run_id="a/b")).parent.name == "a%2Fb"  # no extra folder level


def test_a_location_must_be_a_path_or_a_uri():
    with pytest.raises(
        ConfigurationError, match=r"output_path='/data/run1' is not a storage location.*file:///"
    ):
        as_storage_path("/data/run1", field="output_path")


def test_without_output_path_the_xcom_object_storage_folder_is_used(monkeypatch, tmp_path):
    assert default_folder() is None
    monkeypatch.setenv("AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH", tmp_path.as_uri())
    assert str(default_folder()) == f"{tmp_path.as_uri()}/huggingface_batch"


def test_answers_are_read_back_and_errors_are_not(folder):
    replies = ReplyFile(task_instance_file(folder, ti()))
    assert replies.earlier_answers() == {}
    replies.open()
    replies.answered(0, {"q": "a"}, request({"q": "a"}), answer(0, "a"))
    replies.failed(1, "b", request("b"), ServiceUnavailableError("m", status_code=500))
    replies.answered(2, "c", request("c"), answer(2, "c", tokens=5))
    replies.close()
    assert replies.earlier_answers() == {0: request({"q": "a"}).digest, 2: request("c").digest}
    lines = [json.loads(line) for line in replies.path.read_text().splitlines()]
    assert lines[0] == {
        "index": 0,
        "input": {"q": "a"},
        "request": request({"q": "a"}).digest,
        **answer(0, "a"),
    }
    assert lines[1] == {
        "index": 1,
        "input": "b",
        "error": {"class": "ServiceUnavailableError", "message": "m", "status_code": 500},
    }


def test_a_resume_keeps_only_the_reused_answers_and_sums_their_usage(folder):
    replies = ReplyFile(task_instance_file(folder, ti()))
    replies.open()
    for index in range(4):
        replies.answered(index, index, request(index), answer(index, index, tokens=index + 2))
    replies.failed(4, 4, request(4), ServiceUnavailableError("m"))
    replies.close()
    usage = replies.keep({1, 3})
    assert usage == {"prompt_tokens": 2, "completion_tokens": 6, "total_tokens": 8}
    assert [json.loads(line)["index"] for line in replies.path.read_text().splitlines()] == [1, 3]
    assert [p.name for p in replies.path.parent.iterdir()] == ["group.batch.jsonl"]  # no leftovers
    replies.keep(set())
    assert not replies.path.exists()


def test_a_line_cut_by_a_crash_is_sent_again(folder):
    replies = ReplyFile(task_instance_file(folder, ti()))
    replies.open()
    replies.answered(0, "a", request("a"), answer(0, "a"))
    replies.close()
    with replies.path.open("a") as out:
        out.write('{"index": 1, "input": "b", "te')
    assert set(replies.earlier_answers()) == {0}


def test_an_input_that_changed_does_not_match_its_old_answer():
    assert request("x").digest == request("x").digest
    assert request("x").digest != request("y").digest
    assert request("x").digest != request("x", prompt="Now say {}").digest  # an edited prompt
    other_model = ChatRequest(where="http://server", model="n", messages=request("x").messages, generation={})
    assert other_model.digest != request("x").digest
    assert (
        ChatRequest(**{**vars(request("x")), "generation": {"temperature": 0.5}}).digest
        != request("x").digest
    )


def test_a_file_the_batch_did_not_write_is_refused(folder):
    path = task_instance_file(folder, ti())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("name,age\n")
    with pytest.raises(ConfigurationError, match=r"line 1 is not a batch reply.*folder of its own"):
        ReplyFile(path).earlier_answers()
