"""Fallback models under ``dag.test()``: a real metadata DB and XCom, the fake over real HTTP."""

from __future__ import annotations

from tests.fakes.hf_api import Fault

TOKEN = "hf_fallbacktestcanary00001"
REJECTED = "hf_fallbackrejectedtoken01"


def test_the_next_model_answers_when_the_first_cannot(fake_hf, use_connection, run_dag, capsys):
    use_connection("hf_fake", host=fake_hf.url, password=TOKEN, extra={"max_retries": 1})
    use_connection("hf_fake_rejected", host=fake_hf.url, password=REJECTED)
    fake_hf.valid_tokens = {TOKEN}
    fake_hf.model_faults = {
        "org/down": Fault.status(404, {"error": "Model org/down does not exist"}),
        "org/loading": Fault.loading(estimated_time=0.01),
        "org/gone": Fault.status(410, {"error": "Model org/gone is no longer served"}),
    }

    run = run_dag("hf_fallback")

    assert run.states == {
        "sync": "success",
        "deferred": "success",
        "decorated": "success",
        "rejected": "failed",
    }
    for task_id in ("sync", "deferred", "decorated"):
        assert run.xcom[task_id]["model"] == "org/up", task_id
        assert run.xcom[task_id]["text"]
    asked = [(r.body["messages"][-1]["content"], r.body["model"]) for r in fake_hf.chat_requests]
    # 404 and 410 are not retried; a loading model is retried once (max_retries=1), then left.
    for who in ("sync", "deferred"):
        prompt = f"Hello from {who}"
        assert [m for p, m in asked if p == prompt] == ["org/down", "org/loading", "org/loading", "org/up"]
    assert [m for p, m in asked if p == "Hello from the decorator"] == ["org/gone", "org/up"]
    # The bad token was sent once and no fallback model was asked with it.
    assert [r.body["model"] for r in fake_hf.chat_requests if r.token == REJECTED] == ["org/first"]
    log = capsys.readouterr().out
    why = "not found or not served by the provider (HTTP 404)"
    assert f"Model org/down cannot answer: {why}; asking org/loading next" in log
    assert (
        "Model org/loading cannot answer: still unavailable after the retries (HTTP 503); asking org/up next"
        in log
    )
    assert "Model org/gone cannot answer: gone (HTTP 410); asking org/up next" in log
