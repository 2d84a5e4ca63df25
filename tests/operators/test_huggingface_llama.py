"""The user guide's example DAG against a real inference server (llama.cpp, tiny random model)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.llama


def test_example_dag_against_llama_cpp(llama_server, use_connection, run_dag):
    use_connection("huggingface_default", host=llama_server.url, extra={"timeout": 60})
    run = run_dag("example_huggingface_chat")
    assert run.state == "success", run.states
    for task_id in ("summarize", "translate"):
        result = run.xcom[task_id]
        assert result["text"].strip()
        assert result["finish_reason"] in ("length", "stop")
        assert result["usage"]["completion_tokens"] > 0
