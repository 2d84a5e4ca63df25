"""``@task.huggingface_chat``: registered with Airflow, and run in real DAG runs against the fake."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest

from airflow_provider_huggingface import get_provider_info
from airflow_provider_huggingface.decorators.huggingface import (
    huggingface_branch_task,
    huggingface_chat_task,
    stored_prompt,
)
from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator
from tests.airflow_internals import stored_template_field, task_log
from tests.operators.test_conversations import tiny_png


@pytest.fixture
def fake_conn(fake_hf, use_connection):
    use_connection("hf_fake", host=fake_hf.url, password="hf_decoratortestcanary01")
    fake_hf.reply = lambda body: f"re: {body['messages'][-1]['content']}"
    return fake_hf


def test_provider_info_declares_the_decorator():
    assert get_provider_info()["task-decorators"] == [
        {
            "class-name": "airflow_provider_huggingface.decorators.huggingface.huggingface_chat_task",
            "name": "huggingface_chat",
        },
        {
            "class-name": "airflow_provider_huggingface.decorators.huggingface.huggingface_branch_task",
            "name": "huggingface_branch",
        },
        {
            "class-name": "airflow_provider_huggingface.decorators.huggingface.huggingface_agent_task",
            "name": "huggingface_agent",
        },
    ]


def test_airflow_finds_the_decorator_as_task_huggingface_chat():
    from airflow.sdk import task

    from tests.airflow_internals import taskflow_decorators

    decorators = taskflow_decorators()
    assert decorators["huggingface_chat"] is huggingface_chat_task
    assert task.huggingface_chat is huggingface_chat_task
    assert decorators["huggingface_branch"] is huggingface_branch_task
    assert task.huggingface_branch is huggingface_branch_task


def test_importing_the_decorator_loads_no_client_and_no_template_engine():
    code = (
        "import sys, airflow_provider_huggingface.decorators.huggingface\n"
        "print(sorted(m for m in sys.modules if m.startswith(('huggingface_hub.inference', 'pybars'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_each_decorator_imports_its_own_operator_when_first_used():
    # A DAG file that uses @task.huggingface_chat pays for the chat operator, not the agent's.
    code = (
        "import sys\n"
        "from airflow_provider_huggingface.decorators import huggingface as d\n"
        "prefix = 'airflow_provider_huggingface.operators.'\n"
        "ours = lambda: sorted(m for m in sys.modules if m.startswith(prefix))\n"
        "print(ours())\n"
        "d.huggingface_chat_task(lambda: 'hi')\n"
        "print(ours())\n"
        "agent = d._HuggingFaceAgentOperatorDecorated\n"
        "print('HuggingFaceAgentOperator' in [c.__name__ for c in agent.__mro__])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    at_import, after_chat, is_agent = out.strip().splitlines()[-3:]
    assert at_import == "[]"
    assert "airflow_provider_huggingface.operators.huggingface" in after_chat
    assert "operators.agent" not in after_chat
    assert "operators.branch" not in after_chat
    assert is_agent == "True"  # a class's name still finds it in the module


def test_the_decorated_task_is_the_chat_operator():
    from airflow.sdk import DAG

    with DAG(dag_id="decorator_shape", schedule=None):

        @huggingface_chat_task(hf_conn_id="hf_x", system_prompt="Be brief.", max_tokens=5, stream=True)
        def ask(topic: str) -> str:
            return f"About {topic}"

        op = ask("seas").operator

    assert isinstance(op, HuggingFaceChatOperator)
    assert op.custom_operator_name == "@task.huggingface_chat"
    assert (op.task_id, op.hf_conn_id, op.system_prompt, op.max_tokens, op.stream) == (
        "ask",
        "hf_x",
        "Be brief.",
        5,
        True,
    )
    assert {"op_args", "op_kwargs", "model", "response_format", "user_prompt"} <= set(op.template_fields)


def test_user_prompt_is_refused_as_an_argument():
    from airflow.sdk import DAG

    with DAG(dag_id="decorator_refuses_user_prompt", schedule=None):

        @huggingface_chat_task(hf_conn_id="hf_x", user_prompt="{{x}}")
        def ask() -> str:
            return "hi"

        with pytest.raises(TypeError, match="the decorated function returns it"):
            ask()


def test_prompt_built_from_an_upstream_xcom_is_sent_literally(fake_conn, run_dag):
    run = run_dag("hf_decorator")
    assert run.state == "success", run.states

    by_prompt = {r.body["messages"][-1]["content"]: r.body for r in fake_conn.chat_requests}
    described = next(body for prompt, body in by_prompt.items() if prompt.startswith("Describe"))
    system, user = described["messages"]
    # The system prompt is a Handlebars template over the XComs; the user prompt is not rendered:
    # "{{braces}}" and a stray "}}" from the data reach the model as they are.
    assert system == {"role": "system", "content": "You guide visitors of Paris for hf_decorator."}
    assert user["role"] == "user"
    assert user["content"].startswith("Describe Paris on 2")
    assert user["content"].endswith(". Note: keep {{braces}} and }} as they are")
    assert (described["model"], described["max_tokens"], described["temperature"]) == (
        "owner/decorated",  # model="{{ params.model }}": an ordinary Jinja field
        40,
        0.5,
    )
    assert run.xcom["describe"] == {
        "text": f"re: {user['content']}",
        "model": "owner/decorated",
        "finish_reason": "stop",
        "usage": run.xcom["describe"]["usage"],
    }
    assert run.xcom["describe"]["usage"]["prompt_tokens"] > 10
    json.dumps(run.xcom["describe"])  # plain JSON


def test_mapped_over_upstream_values_with_expand(fake_conn, run_dag):
    run = run_dag("hf_decorator")
    assert run.state == "success", run.states
    topics = ("rivers", "mountains", "deserts")
    assert [run.states[f"ask[{i}]"] for i in range(3)] == ["success"] * 3
    assert [run.xcom[f"ask[{i}]"]["text"] for i in range(3)] == [f"re: One fact about {t}." for t in topics]
    assert run.xcom["collect"] == [f"re: One fact about {t}." for t in topics]
    asked = sorted(r.body["messages"][-1]["content"] for r in fake_conn.chat_requests)
    assert [p for p in asked if p.startswith("One fact")] == sorted(f"One fact about {t}." for t in topics)


def test_multiple_outputs_pushes_each_key(fake_conn, run_dag):
    run = run_dag("hf_decorator")
    assert run.state == "success", run.states
    assert run.xcom["split"]["text"] == "re: Name one street of Paris."
    # echo received split["text"], an XCom of its own key.
    assert run.xcom["echo"] == "got: re: Name one street of Paris."


def test_rendered_fields_show_the_prompt_that_was_sent(fake_conn, run_dag):
    run = run_dag("hf_decorator")
    assert run.state == "success", run.states
    fields = run.rendered_fields("split")
    assert fields["user_prompt"] == "Name one street of Paris."
    assert fields["model"] is None


@pytest.mark.parametrize(("task_id", "shown"), [("number", "int 42"), ("blank", "str '  \\n'")])
def test_a_function_that_returns_no_prompt_fails_before_any_request(
    fake_conn, run_dag, capfd, caplog, task_id, shown
):
    run = run_dag("hf_decorator_bad_return")
    assert run.state == "failed"
    assert run.states[task_id] == "failed"  # not up_for_retry: another attempt returns the same
    log = task_log(capfd, caplog)
    assert (
        f"The function {task_id}() decorated with @task.huggingface_chat must return the user prompt "
        f"as a non-empty string; it returned {shown}." in log
    )
    assert fake_conn.chat_requests == []


def test_deferrable_sends_the_same_literal_prompt_from_the_triggerer(fake_conn, run_dag, capsys):
    run = run_dag("hf_decorator_deferred")
    assert run.state == "success", run.states
    (request,) = fake_conn.chat_requests
    assert request.body["messages"] == [
        {"role": "system", "content": "Task deferred."},
        {"role": "user", "content": "Explain tides {{not a tag}}."},
    ]
    assert run.xcom["deferred"]["text"] == "re: Explain tides {{not a tag}}."
    assert "Deferring chat to the triggerer" in capsys.readouterr().out


# The deferred path's rendered field after the resume: tests/integration/test_scheduler.py
# (dag.test() drops the arguments a deferred task resumes with).
@pytest.mark.parametrize("length", [20, 151, 152, 2000])
def test_the_prompt_carried_to_the_resume_is_stored_as_the_whole_prompt(monkeypatch, length):
    monkeypatch.setenv("AIRFLOW__CORE__MAX_TEMPLATED_FIELD_LENGTH", "150")
    token = "hf_carriedTokenOfTheConnection0123456789"
    prompt = (f"my token is {token}. " + "Explain tides. " * 200)[:length]
    carried = stored_prompt(prompt, secrets=(token,))
    assert token[:12] not in carried  # nothing of the token is carried, not even a cut-off head
    assert len(carried) <= 151  # no longer than Airflow stores: one past its limit at most
    # Airflow stores the carried prompt exactly as it would store the whole prompt, masked.
    masked = prompt.replace(token, "***")
    assert stored_template_field(carried, "user_prompt") == stored_template_field(masked, "user_prompt")


def test_images_reach_the_last_user_turn_as_the_operator_sends_them(
    fake_conn, run_dag, tmp_path, capfd, caplog
):
    png, jpeg = tmp_path / "p.png", tmp_path / "photo.jpg"
    png.write_bytes(tiny_png())
    jpeg.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 100)
    fake_conn.reply = "Two cats."
    run = run_dag("hf_decorator_images", run_conf={"png": str(png), "jpeg": str(jpeg)})
    assert run.state == "success", run.states
    sent = {r.body["messages"][-1]["content"][0]["text"]: r.body["messages"] for r in fake_conn.chat_requests}
    assert set(sent) == {"And in these, of pets? Keep {{braces}}.", "Describe it."}
    earlier, answer, last = sent["And in these, of pets? Keep {{braces}}."]
    # The images join the last user turn, the one the function returned; earlier turns stay text.
    assert (earlier, answer) == (
        {"role": "user", "content": "What is in this picture?"},
        {"role": "assistant", "content": "A dog."},
    )
    png_url = "data:image/png;base64," + base64.b64encode(tiny_png()).decode()
    text, linked, inline_png, inline_jpeg = last["content"]
    assert text == {"type": "text", "text": "And in these, of pets? Keep {{braces}}."}
    assert linked == {"type": "image_url", "image_url": {"url": "https://example.org/cat.png"}}
    assert inline_png == {"type": "image_url", "image_url": {"url": png_url}}
    assert inline_jpeg["image_url"]["url"].startswith("data:image/jpeg;base64,/9j/")
    # Deferred, the triggerer sends the same parts.
    assert sent["Describe it."] == [
        {"role": "user", "content": [{"type": "text", "text": "Describe it."}, inline_png]}
    ]
    # No data URL reaches the log, the XCom or the stored rendered fields.
    log = task_log(capfd, caplog)
    assert "3 image(s) of 0.1 KB inline" in log or "3 image(s) of 0.2 KB inline" in log
    assert "base64" not in log
    assert run.xcom["look"]["text"] == run.xcom["deferred_look"]["text"] == "Two cats."
    assert "base64" not in json.dumps(run.xcom, default=str)
    assert "base64" not in json.dumps(run.rendered_fields("look"))
    assert run.rendered_fields("look")["user_prompt"] == "And in these, of pets? Keep {{braces}}."
