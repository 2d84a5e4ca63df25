"""HuggingFaceHook against the local fake of the Hugging Face API: real HTTP on 127.0.0.1."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_huggingface import exceptions as errors
from airflow_provider_huggingface._internal.airflow_compat import AirflowFailException
from airflow_provider_huggingface.provider_info import DEFAULT_MODEL
from tests.conftest import HOOK_TOKEN as TOKEN
from tests.fakes.hf_api import Fault


def test_chat_on_an_endpoint_sends_messages_and_settings(fake_hf, endpoint_hook):
    fake_hf.reply = "Bonjour"
    result = endpoint_hook.chat(
        user_prompt="Say hello",
        system_prompt="You are terse.",
        max_tokens=20,
        temperature=0.3,
        top_p=0.9,
        stop="\n\n",
        seed=42,
    )
    assert result == {
        "text": "Bonjour",
        "model": "fake-model",
        "finish_reason": "stop",
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
    (request,) = fake_hf.chat_requests
    assert request.path == "/v1/chat/completions"
    assert request.token == TOKEN
    assert request.body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hello"},
    ]
    assert {k: request.body[k] for k in ("max_tokens", "temperature", "top_p", "stop", "seed")} == {
        "max_tokens": 20,
        "temperature": 0.3,
        "top_p": 0.9,
        "stop": ["\n\n"],
        "seed": 42,
    }


def test_router_call_goes_through_huggingface_hub_routing(hub_redirect, router_hook):
    result = router_hook.chat(user_prompt="Hi")
    (request,) = hub_redirect.chat_requests
    assert request.headers["host"] == "router.huggingface.co"
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == DEFAULT_MODEL
    assert request.headers["x-hf-bill-to"] == "acme"
    assert request.token == TOKEN
    assert result["model"] == DEFAULT_MODEL
    assert "system" not in [m["role"] for m in request.body["messages"]]


def task_log(capsys) -> list[str]:
    """Lines an Airflow hook logged: the task SDK's logger writes them to stdout."""
    return [line.split("] ", 1)[-1] for line in capsys.readouterr().out.splitlines()]


def test_stream_gives_the_same_result_and_logs_lines(fake_hf, endpoint_hook, capsys):
    fake_hf.reply = "first line\nsecond line\nthird"
    plain = endpoint_hook.chat(user_prompt="Go")
    capsys.readouterr()
    streamed = endpoint_hook.chat(user_prompt="Go", stream=True)
    assert streamed == plain
    assert fake_hf.chat_requests[-1].body["stream"] is True
    # From the "| " on: 3.0 logs through the logging module, with its own prefix.
    logged = [line[line.index("| ") :].split(" [", 1)[0].strip() for line in task_log(capsys) if "| " in line]
    assert logged == ["| first line", "| second line", "| third"]


def test_transient_failures_are_retried_with_their_causes_logged(fake_hf, endpoint_hook, capsys):
    fake_hf.enqueue(
        Fault.rate_limited(retry_after=0), Fault.loading(estimated_time=0.01), Fault.server_error(502)
    )
    result = endpoint_hook.chat(user_prompt="Hi")
    assert result["text"] == "Hello from the fake"
    assert len(fake_hf.chat_requests) == 4
    retries = [line for line in task_log(capsys) if "Retry " in line]
    assert [line.split(" after ")[1].split(":")[0] for line in retries] == [
        "HTTP 429",
        "HTTP 503",
        "HTTP 502",
    ]
    assert "Retry 1/3" in retries[0]


def test_a_timeout_says_how_long_it_waited_in_the_retry_line_and_the_error(fake_hf, make_hook, capsys):
    hook = make_hook(host=fake_hf.url, extra={"timeout": 0.5, "max_retries": 1})
    fake_hf.enqueue(Fault.hang(seconds=3), Fault.hang(seconds=3))
    with pytest.raises(errors.ResponseTimeoutError) as info:
        hook.chat(user_prompt="Hi")
    (retry,) = [line for line in task_log(capsys) if "Retry " in line]
    assert "after ResponseTimeoutError: no answer within 0.5 s" in retry
    assert "no answer within 0.5 s" in str(info.value)
    assert "Raise the connection's 'timeout' extra" in str(info.value)


def test_a_408_from_the_server_is_retried(fake_hf, endpoint_hook):
    fake_hf.enqueue(Fault.status(408, body={"error": "Request Timeout"}))
    assert endpoint_hook.chat(user_prompt="Hi")["text"] == "Hello from the fake"
    assert len(fake_hf.chat_requests) == 2


def test_retries_are_bounded_by_max_retries(fake_hf, endpoint_hook):
    fake_hf.enqueue(*[Fault.server_error(503)] * 10)
    with pytest.raises(errors.ServiceUnavailableError, match="Service unavailable"):
        endpoint_hook.chat(user_prompt="Hi")
    assert len(fake_hf.chat_requests) == 4  # 1 + max_retries


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.InvalidRequestError),
        (401, errors.InvalidTokenError),
        (402, errors.PaymentRequiredError),
        (403, errors.ModelAccessError),
        (404, errors.ModelNotFoundError),
        (422, errors.InvalidRequestError),
    ],
)
def test_client_errors_fail_at_once_and_for_good(fake_hf, endpoint_hook, status, cls):
    fake_hf.enqueue(Fault.status(status))
    with pytest.raises(cls) as info:
        endpoint_hook.chat(user_prompt="Hi")
    assert isinstance(info.value, AirflowFailException)
    assert len(fake_hf.chat_requests) == 1
    assert info.value.status_code == status


@pytest.mark.parametrize(
    ("fault", "cls"),
    [
        (Fault.reset(), errors.EndpointUnreachableError),
        (Fault.hang(seconds=5), errors.ResponseTimeoutError),
        (Fault.malformed_json(), errors.MalformedResponseError),
        (Fault.empty_choices(), errors.MalformedResponseError),
        (Fault.html(), errors.MalformedResponseError),
    ],
)
def test_broken_answers_are_retried_then_classified(fake_hf, make_hook, fault, cls):
    hook = make_hook(host=fake_hf.url, extra={"timeout": 0.5, "max_retries": 1})
    fake_hf.enqueue(fault, fault)
    with pytest.raises(cls):
        hook.chat(user_prompt="Hi")
    assert len(fake_hf.chat_requests) == 2


def test_a_stream_cut_off_halfway_is_retried_whole(fake_hf, endpoint_hook):
    fake_hf.reply = "one two three four five six"
    fake_hf.enqueue(Fault.cut_stream(after_chunks=2))
    result = endpoint_hook.chat(user_prompt="Hi", stream=True)
    assert result["text"] == "one two three four five six"
    assert len(fake_hf.chat_requests) == 2


def test_an_error_event_inside_a_stream_is_retried(fake_hf, endpoint_hook):
    fake_hf.enqueue(Fault.stream_error("overloaded"))
    assert endpoint_hook.chat(user_prompt="Hi", stream=True)["text"] == "Hello from the fake"
    assert len(fake_hf.chat_requests) == 2


def test_refused_connection_is_retried_then_names_the_endpoint(make_hook):
    hook = make_hook(host="http://127.0.0.1:9", extra={"max_retries": 1, "timeout": 1})
    with pytest.raises(errors.EndpointUnreachableError, match=r"http://127\.0\.0\.1:9.*Could not reach"):
        hook.chat(user_prompt="Hi")


def test_no_token_on_the_router_fails_before_any_request(hub_redirect, make_hook):
    with pytest.raises(errors.ConfigurationError, match="settings/tokens"):
        make_hook().chat(user_prompt="Hi")
    with pytest.raises(errors.ConfigurationError, match="does not start with hf_"):
        make_hook(password="sk-123").chat(user_prompt="Hi")
    assert hub_redirect.requests == []


@pytest.mark.parametrize("prompt", ["", "   \n", None])
def test_empty_prompt_fails_before_any_request(fake_hf, endpoint_hook, prompt):
    with pytest.raises(errors.ConfigurationError, match="user_prompt is empty"):
        endpoint_hook.chat(user_prompt=prompt)
    assert fake_hf.requests == []


@pytest.mark.parametrize("suffix", ["/v1", "/v1/", "/v1/chat/completions"])
def test_an_endpoint_url_with_the_api_path_works_for_chat_and_the_test(fake_hf, make_hook, suffix):
    hook = make_hook(host=fake_hf.url + suffix)
    ok, message = hook.test_connection()
    assert ok, message
    assert hook.chat(user_prompt="Hi")["text"] == "Hello from the fake"
    assert [r.path for r in fake_hf.requests] == ["/v1/models", "/v1/chat/completions"]
    assert f"The endpoint {fake_hf.url} answered" in message


def test_ignored_extras_are_named_in_the_task_log_and_the_test_result(fake_hf, make_hook, capsys):
    hook = make_hook(host=fake_hf.url, extra={"timout": 5, "model": "a/b", "timeout": 30})
    ok, message = hook.test_connection()
    assert ok, message
    hook.chat(user_prompt="Hi")
    log = "\n".join(task_log(capsys))
    ignored = "is not a setting of this connection and is ignored. Did you mean"
    for text in (message, log):
        assert f"the extra 'timout' {ignored} 'timeout'?" in text
        assert f"the extra 'model' {ignored} 'default_model'?" in text
    assert fake_hf.chat_requests[0].body["model"] != "a/b"  # ignored indeed


def test_the_token_is_never_logged_nor_in_errors(fake_hf, make_hook, caplog, capsys):
    hook = make_hook(host=fake_hf.url, password=TOKEN, extra={"max_retries": 1, "timeout": 0.5})
    texts = []
    with caplog.at_level(logging.DEBUG):
        for faults in (
            [Fault.status(401, body={"error": f"bad token {TOKEN}"})],
            [Fault.status(500)] * 2,
            [Fault.hang(2)] * 2,
        ):
            fake_hf.enqueue(*faults)
            with pytest.raises(errors.HuggingFaceError) as info:
                hook.chat(user_prompt="Hi")
            texts += [str(info.value), repr(info.value), info.value.server_message or ""]
        texts.append(str(hook.chat(user_prompt="Hi", stream=True)))
    out = capsys.readouterr()
    texts += [repr(hook), repr(hook.settings), repr(hook.client), caplog.text, out.out, out.err]
    assert "bad token" in " ".join(texts)  # the server's words are kept, its copy of the token is not
    assert all(TOKEN not in text for text in texts)
