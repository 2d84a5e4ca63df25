"""HuggingFaceBranchOperator and @task.huggingface_branch in real DAG runs against the fake."""

from __future__ import annotations

import json
import uuid

import pytest

from airflow_provider_huggingface._internal.airflow_compat import branch_skips_in_mapped_task_groups
from tests.airflow_internals import stored_template_field, task_log

TOKEN = "hf_branchtestcanary000001"
TEAMS = ["billing", "bug", "other"]


@pytest.fixture
def fake_conn(fake_hf, use_connection):
    use_connection("hf_fake", host=fake_hf.url, password=TOKEN, extra={"max_retries": 1})
    return fake_hf


def answer(**reply):
    return lambda body: json.dumps(reply)


def schema_sent(request) -> dict:
    response_format = request.body["response_format"]
    # Both forms an endpoint may read: TGI's "value", llama.cpp's "schema".
    assert response_format["type"] == "json_object"
    assert response_format["value"] == response_format["schema"]
    return response_format["schema"]


def test_the_model_chooses_one_team_and_the_others_are_skipped(fake_conn, run_dag):
    fake_conn.reply = answer(choice="bug", reason="it crashes")
    run = run_dag("hf_branch", run_conf={"ticket": "The app crashes on start"})
    assert run.state == "success", run.states
    assert run.states == {
        "route": "success",
        "bug": "success",
        "billing": "skipped",
        "other": "skipped",
        "after": "success",
    }
    assert run.xcom["route"] == {
        "choices": ["bug"],
        "reason": "it crashes",
        "model": "fake-model",
        "usage": run.xcom["route"]["usage"],
    }
    (request,) = fake_conn.chat_requests
    schema = schema_sent(request)
    assert schema["properties"]["choice"] == {"type": "string", "enum": TEAMS}
    assert schema["required"] == ["choice", "reason"]
    system, user = request.body["messages"]
    assert system == {"role": "system", "content": "You route support tickets."}
    assert user["content"].startswith(
        "Ticket: The app crashes on start\n\nChoose exactly one of these options"
    )
    assert user["content"].endswith("Options:\n- billing\n- bug\n- other")


def test_allow_multiple_follows_every_chosen_team(fake_conn, run_dag):
    fake_conn.reply = answer(choices=["billing", "bug"], reason="both")
    run = run_dag("hf_branch_multiple", run_conf={"ticket": "Charged for a crash"})
    assert run.states["billing"] == run.states["bug"] == "success"
    assert run.states["other"] == "skipped"
    assert run.xcom["route"]["choices"] == ["billing", "bug"]
    items = schema_sent(fake_conn.chat_requests[0])["properties"]["choices"]
    assert items == {
        "type": "array",
        "items": {"type": "string", "enum": TEAMS},
        "minItems": 1,
        "uniqueItems": True,
    }


def test_an_unknown_choice_is_asked_again_once_then_fails_naming_it(fake_conn, run_dag, capsys):
    fake_conn.reply = answer(choice="sales", reason="?")
    run = run_dag("hf_branch", run_conf={"ticket": "x"})
    assert run.states["route"] == "failed"
    assert {run.states[t] for t in TEAMS} == {"upstream_failed"}
    _, second = fake_conn.chat_requests
    reask = second.body["messages"][-1]["content"]
    assert "'sales' is not one of ['billing', 'bug', 'other']" in reask
    assert "'sales' is not one of" in capsys.readouterr().out


def test_a_second_ask_can_fix_the_choice(fake_conn, run_dag):
    replies = iter(["I think billing", json.dumps({"choice": "billing", "reason": "refund"})])
    fake_conn.reply = lambda body: next(replies)
    run = run_dag("hf_branch", run_conf={"ticket": "refund"})
    assert run.states["billing"] == "success"
    assert run.states["bug"] == "skipped"
    assert len(fake_conn.chat_requests) == 2


def test_default_choice_is_followed_when_the_model_cannot_decide(fake_conn, run_dag, capsys):
    fake_conn.reply = "no idea"
    run = run_dag("hf_branch_default", run_conf={"ticket": "???"})
    assert run.state == "success", run.states
    assert run.states["other"] == "success"
    assert run.states["bug"] == "skipped"
    assert run.xcom["route"]["choices"] == ["other"]
    assert run.xcom["route"]["reason"].startswith("default_choice: the model gave no valid choice")
    assert len(fake_conn.chat_requests) == 2
    assert "following default_choice ['other']" in capsys.readouterr().out


def test_a_deferred_branch_decides_after_the_trigger(fake_conn, run_dag, capsys):
    fake_conn.reply = answer(choice="billing", reason="money")
    run = run_dag("hf_branch_deferred", run_conf={"ticket": "invoice"})
    assert run.states == {
        "route": "success",
        "billing": "success",
        "bug": "skipped",
        "other": "skipped",
        "after": "success",
    }
    assert run.xcom["route"]["choices"] == ["billing"]
    assert "Deferring chat to the triggerer" in capsys.readouterr().out


def test_choice_descriptions_and_messages_go_into_the_prompt(fake_conn, run_dag):
    fake_conn.reply = answer(choice="billing", reason="refund")
    run = run_dag("hf_branch_described", run_conf={"ticket": "refund"})
    # "other" is no choice here: it is skipped like any task not chosen.
    assert run.states["billing"] == "success"
    assert run.states["other"] == "skipped"
    (request,) = fake_conn.chat_requests
    roles = [m["role"] for m in request.body["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert request.body["messages"][-1]["content"].endswith(
        "Options:\n- billing: payments, invoices, refunds\n- bug: crashes and errors"
    )
    assert schema_sent(request)["properties"]["choice"]["enum"] == ["billing", "bug"]


def test_choices_that_are_not_downstream_fail_before_any_call(fake_conn, run_dag, capsys):
    run = run_dag("hf_branch_bad_choices", run_conf={"ticket": "x"})
    assert run.states["route"] == "failed"
    assert "choices 'nowhere' must name direct downstream tasks of route" in capsys.readouterr().out
    assert fake_conn.chat_requests == []


def test_the_decorator_branches_on_the_prompt_its_function_returns(fake_conn, run_dag):
    fake_conn.reply = answer(choice="billing", reason="card")
    run = run_dag("hf_branch_decorated")
    assert run.states["route"] == "success"
    assert run.states["billing"] == "success"
    assert run.states["bug"] == "skipped"
    assert run.xcom["route"]["choices"] == ["billing"]
    (request,) = fake_conn.chat_requests
    assert request.body["messages"][0]["content"].startswith("Ticket: My card was charged {{twice}}\n\n")


@pytest.mark.parametrize("dag_id", ["hf_branch", "hf_branch_decorated"])
def test_the_stored_prompt_is_the_prompt_sent_options_included(fake_hf, use_connection, run_dag, dag_id):
    # A token no earlier task registered with the masker: the rendering step itself must.
    token = f"hf_branchrendered{uuid.uuid4().hex}"
    use_connection("hf_fake", host=fake_hf.url, password=token)
    fake_hf.reply = answer(choice="billing", reason="card")
    run = run_dag(dag_id, run_conf={"ticket": f"my token is {token}"})
    assert run.states["billing"] == "success", run.states
    (request,) = fake_hf.chat_requests
    sent = request.body["messages"][-1]["content"]
    assert f"my token is {token}" in sent
    assert sent.endswith("Options:\n- billing\n- bug" + ("\n- other" if dag_id == "hf_branch" else ""))
    # What the UI's Rendered tab shows: the prompt as sent, the token masked as Airflow masks secrets.
    assert run.rendered_fields("route")["user_prompt"] == sent.replace(token, "***")


@pytest.mark.parametrize("dag_id", ["hf_branch", "hf_branch_decorated"])
def test_a_long_branch_prompt_is_stored_truncated_as_airflow_truncates(
    fake_conn, run_dag, monkeypatch, dag_id
):
    monkeypatch.setenv("AIRFLOW__CORE__MAX_TEMPLATED_FIELD_LENGTH", "150")
    fake_conn.reply = answer(choice="bug", reason="crash")
    run = run_dag(dag_id, run_conf={"ticket": "it crashes"})
    assert run.states["bug"] == "success", run.states
    sent = fake_conn.chat_requests[0].body["messages"][-1]["content"]
    stored = run.rendered_fields("route")["user_prompt"]
    assert "Truncated" in stored
    assert stored == stored_template_field(sent, "user_prompt")


def test_a_conversation_stores_its_last_turn_with_the_options(fake_conn, run_dag):
    fake_conn.reply = answer(choice="bug", reason="crash")
    run = run_dag("hf_branch_conversation", run_conf={"ticket": "it crashes"})
    assert run.states["bug"] == "success", run.states
    (request,) = fake_conn.chat_requests
    system, *conversation = request.body["messages"]
    assert system == {"role": "system", "content": "You route support tickets."}
    assert conversation[-1]["content"].startswith("Ticket: it crashes\n\nChoose exactly one")
    assert run.rendered_fields("route")["messages"] == conversation
    assert run.rendered_fields("route")["user_prompt"] is None


def by_ticket(body) -> str:
    """Billing for a refund, else bug: each map index gets its own choice."""
    enum = body["response_format"]["schema"]["properties"]["choice"]["enum"]
    want = "billing" if "refund" in body["messages"][-1]["content"] else "bug"
    return json.dumps({"choice": next(c for c in enum if c.endswith(want)), "reason": want})


def test_a_mapped_branch_is_followed_per_map_index(fake_conn, run_dag):
    fake_conn.reply = by_ticket
    run = run_dag("hf_branch_expand")
    assert run.state == "success", run.states
    assert [run.xcom[f"route[{i}]"]["choices"] for i in range(3)] == [["billing"], ["bug"], ["billing"]]
    assert [run.states[f"billing[{i}]"] for i in range(3)] == ["success", "skipped", "success"]
    assert [run.states[f"bug[{i}]"] for i in range(3)] == ["skipped", "success", "skipped"]
    assert run.xcom["billing[2]"] == "billing: Ticket: refund twice"
    assert len(fake_conn.chat_requests) == 3


def test_a_mapped_branch_before_unmapped_tasks_fails_naming_the_fix(fake_conn, run_dag, capfd, caplog):
    # Airflow would run both tasks whatever each index chose: the provider refuses before any call.
    fake_conn.reply = by_ticket
    run = run_dag("hf_branch_expand_unmapped")
    assert [run.states[f"route[{i}]"] for i in range(3)] == ["failed"] * 3
    assert run.states["billing"] == run.states["bug"] == "upstream_failed"
    assert fake_conn.chat_requests == []
    assert "Task route is mapped but its downstream tasks billing, bug are not" in task_log(capfd, caplog)


def test_a_branch_in_a_mapped_task_group(fake_conn, run_dag, capfd, caplog):
    fake_conn.reply = by_ticket
    run = run_dag("hf_branch_mapped_group")
    if branch_skips_in_mapped_task_groups():  # Airflow 3.0 and 3.1
        assert run.state == "success", run.states
        assert [run.states[f"handle.billing[{i}]"] for i in range(3)] == ["success", "skipped", "success"]
        assert [run.states[f"handle.bug[{i}]"] for i in range(3)] == ["skipped", "success", "skipped"]
        return
    # 3.2 and later would run every task of the group whatever the model chose: refused before any call.
    assert [run.states[f"handle.route[{i}]"] for i in range(3)] == ["failed"] * 3
    assert fake_conn.chat_requests == []
    log = task_log(capfd, caplog)
    assert "Task handle.route is a branch inside a mapped task group" in log
    assert "apache/airflow#67265" in log


def test_the_routing_example_answers_in_the_chosen_teams_style(fake_hf, use_connection, run_dag):
    use_connection("huggingface_default", host=fake_hf.url, password=TOKEN)
    fake_hf.reply = lambda body: (
        json.dumps({"choice": "billing", "reason": "a plan was paid"})
        if body.get("response_format")
        else "Fixed."
    )
    run = run_dag("example_huggingface_routing", run_conf={"ticket": "Charged for {{nothing}}"})
    assert run.state == "success", run.states
    assert run.states == {
        "ticket": "success",
        "route": "success",
        "billing": "success",
        "bug": "skipped",
        "other": "skipped",
    }
    route, answer = fake_hf.chat_requests
    assert route.body["seed"] == 7
    assert route.body["response_format"]["schema"]["properties"]["choice"]["enum"] == TEAMS
    assert "- billing: payments, invoices, refunds, subscriptions" in route.body["messages"][-1]["content"]
    roles = [m["role"] for m in answer.body["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant", "user"]
    assert answer.body["messages"][1]["content"] == "I was charged twice this month."
    assert answer.body["messages"][-1] == {"role": "user", "content": "Charged for {{nothing}}"}
    assert run.xcom["billing"]["text"] == "Fixed."
    assert run.xcom["route"]["choices"] == ["billing"]


def test_response_format_is_refused_when_the_dag_is_parsed():
    from airflow_provider_huggingface.operators.branch import HuggingFaceBranchOperator

    with pytest.raises(TypeError, match="sets response_format itself"):
        HuggingFaceBranchOperator(task_id="b", user_prompt="x", response_format={"type": "json_object"})


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"choices": "billing"}, "choices must be a list of task ids"),
        ({"choices": []}, "has nothing to choose from"),
        ({"choices": ["billing"], "default_choice": "bug"}, "default_choice 'bug' is not one of the choices"),
        ({"default_choice": ["billing", "bug"]}, "default_choice names 2 tasks but allow_multiple is False"),
    ],
)
def test_bad_choices_are_configuration_errors(kwargs, words):
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    from airflow_provider_huggingface.exceptions import ConfigurationError
    from airflow_provider_huggingface.operators.branch import HuggingFaceBranchOperator

    with DAG(dag_id="branch_config", schedule=None):
        branch = HuggingFaceBranchOperator(task_id="route", user_prompt="x", **kwargs)
        branch >> [EmptyOperator(task_id=t) for t in ("billing", "bug")]
    with pytest.raises(ConfigurationError, match=words):
        branch.allowed()


def test_a_valid_choice_with_a_long_reason_is_followed_and_the_reason_cut(fake_conn, run_dag):
    fake_conn.reply = answer(choice="bug", reason="it crashes " * 100)
    run = run_dag("hf_branch", run_conf={"ticket": "The app crashes"})
    assert run.states["bug"] == "success", run.states
    assert run.states["billing"] == run.states["other"] == "skipped"
    assert len(fake_conn.chat_requests) == 1  # followed, not asked again
    reason = run.xcom["route"]["reason"]
    assert len(reason) <= 300
    assert reason.startswith("it crashes it crashes")
    assert reason.endswith("...")


@pytest.mark.parametrize("reply", ["bug", '"bug"', "```\nbug\n```", " 'bug'\n", "`bug`"])
def test_a_reply_that_is_exactly_one_allowed_id_is_that_choice(fake_conn, run_dag, reply):
    # Many models ignore response_format: an answer that is one allowed id and nothing else is clear.
    fake_conn.reply = reply
    run = run_dag("hf_branch", run_conf={"ticket": "The app crashes"})
    assert run.states["bug"] == "success", run.states
    assert run.states["billing"] == run.states["other"] == "skipped"
    assert len(fake_conn.chat_requests) == 1
    assert run.xcom["route"]["choices"] == ["bug"]


def test_a_reply_that_names_an_id_among_other_words_is_still_asked_again(fake_conn, run_dag):
    fake_conn.reply = "I think bug, or maybe billing"
    run = run_dag("hf_branch_default", run_conf={"ticket": "?"})
    assert run.states["other"] == "success"  # the default: neither reply was a choice
    assert len(fake_conn.chat_requests) == 2


@pytest.mark.parametrize("dag_id", ["hf_branch_default", "hf_branch_default_deferred"])
def test_the_default_choice_reports_the_model_and_the_tokens_its_calls_used(fake_conn, run_dag, dag_id):
    fake_conn.reply = "no idea at all"
    run = run_dag(dag_id, run_conf={"ticket": "???"})
    assert run.states["other"] == "success", run.states
    decision = run.xcom["route"]
    assert decision["choices"] == ["other"]
    assert decision["model"] == "fake-model"
    # The fake bills a word as a token: both calls, the question and the re-ask, were paid for.
    assert len(fake_conn.chat_requests) == 2
    prompts = [
        len(" ".join(m["content"] for m in r.body["messages"]).split()) for r in fake_conn.chat_requests
    ]
    assert decision["usage"] == {
        "prompt_tokens": sum(prompts),
        "completion_tokens": 2 * 4,
        "total_tokens": sum(prompts) + 8,
    }
