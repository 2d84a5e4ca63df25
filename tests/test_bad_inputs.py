"""Bad input gives a clear error, and costs no call when the fault is ours to catch.

Two tables. ``HOOK_CASES`` go through the real hook over real HTTP to the fake (router cases through
``hub_redirect``); ``DAG_CASES`` go through the operator in ``dag.test()`` runs of
``tests/dags/hf_bad_inputs.py``, one case per run. Every failing case names the problem AND the fix;
every fault that we can catch sends no generation request; every fault the server causes is
classified and costs at most ``1 + max_retries`` requests. Cases marked xfail are findings: they flip
once the provider is fixed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_huggingface import exceptions as errors
from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook
from tests.airflow_internals import dag_bag, xcom_refusal
from tests.fakes.hf_api import Fault

TOKEN = "hf_badinputstoken000001"
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
MAX_RETRIES = 2  # every hook case's connection: a server fault costs at most 3 requests
NEVER_SENT = None  # `sent` of a case that must send nothing at all, not even a Hub lookup


@dataclass(frozen=True)
class Case:
    """One bad input to the hook and what it must give.

    :param chat: arguments of ``hook.chat`` besides ``user_prompt="Hi"``.
    :param conn: changes to the connection (``extra`` is merged; a None value removes the field).
    :param router: no host: the Hugging Face router (redirected to the fake).
    :param error: the exception class, or None when the call must succeed.
    :param problem, fix: regexes that the message must both match.
    :param sent: chat requests the fake must see; NEVER_SENT: no request of any kind.
    :param faults: enqueued on the fake first.
    :param log: a regex the captured log must match.
    :param avoid: a regex the message must not match (a wrong hint).
    """

    id: str
    chat: dict[str, Any] = field(default_factory=dict)
    conn: dict[str, Any] = field(default_factory=dict)
    router: bool = False
    error: type[BaseException] | None = errors.ConfigurationError
    problem: str = ""
    fix: str = ""
    sent: int | None = NEVER_SENT
    faults: tuple[Fault, ...] = ()
    log: str = ""
    avoid: str = ""
    xfail: str = ""


def _settings(name: str, value: Any, rule: str) -> Case:
    """A generation setting that no server accepts."""
    return Case(
        f"{name}={value!r}",
        chat={name: value},
        problem=rf"{name}=.* is not valid",
        fix=rule,
    )


def _extra(name: str, value: Any, problem: str, fix: str, xfail: str = "") -> Case:
    """A connection extra that cannot work."""
    return Case(
        f"extra {name}={value!r}",
        conn={"extra": {name: value}},
        problem=problem,
        fix=fix,
        xfail=xfail,
    )


_TOKEN_FIX = r"https://huggingface\.co/settings/tokens"
_TIMEOUT_PROBLEM = r"extra 'timeout' is .*; it must be a number greater than 0"
_SCHEMA_EXAMPLE = r'e\.g\. \{"type": "json_schema", "json_schema": \{"name": "answer", "schema"'

HOOK_CASES = [
    # ------------------------------------------------------------------ prompts
    Case("empty prompt", chat={"user_prompt": ""}, problem="user_prompt is empty", fix="give the model"),
    Case(
        "whitespace prompt",
        chat={"user_prompt": " \n\t "},
        problem="user_prompt is empty",
        fix="give the model something to answer",
    ),
    Case("no prompt", chat={"user_prompt": None}, problem="user_prompt is empty", fix="e\\.g\\. 'Summarize"),
    Case(
        "prompt not a string",
        chat={"user_prompt": {"text": "Hi"}},
        problem=r"user_prompt must be a string, not dict",
        fix="string",
    ),
    Case(
        "system prompt not a string",
        chat={"system_prompt": 3},
        problem="system_prompt must be a string",
        fix="not int",
    ),
    Case(
        "prompt with a lone surrogate",
        chat={"user_prompt": b"Summarize: \xff".decode("utf-8", "surrogateescape")},
        problem=r"user_prompt .*(not valid Unicode|surrogate)",
        fix=r"errors=.replace.|decode",
    ),
    # ------------------------------------------------------------------ models
    Case(
        "model not owner/name",
        chat={"model": "mistral"},
        router=True,
        problem="Model 'mistral' is not a Hugging Face model id of the form owner/name",
        fix=r"Copy the id from the model's page on https://huggingface\.co/models",
    ),
    Case(
        "model with a space",
        chat={"model": "mistralai/Mistral 7B"},
        router=True,
        problem="of the form owner/name",
        fix=r"e\.g\. mistralai/Mistral-7B-Instruct-v0\.3",
    ),
    Case(
        "connection default_model not owner/name",
        conn={"extra": {"default_model": "mistral"}},
        router=True,
        problem="Model 'mistral' is not .* owner/name",
        fix="huggingface\\.co/models",
    ),
    Case(
        "gated model",
        chat={"model": LLAMA, "validate_model": True},
        router=True,
        error=errors.ModelAccessError,
        problem="Model not available: some models require special access",
        fix=rf"Accept the model's license agreement on https://huggingface\.co/{LLAMA}",
        sent=0,
    ),
    Case(
        "missing model",
        chat={"model": "nobody/no-such-model", "validate_model": True},
        router=True,
        error=errors.ModelNotFoundError,
        problem="Not found: the model id 'nobody/no-such-model'",
        fix=r"Check the id \(owner/name\) on https://huggingface\.co/models",
        sent=0,
    ),
    Case(
        "non-chat model",
        chat={"model": "bigcode/starcoder2-15b", "validate_model": True},
        router=True,
        error=errors.ModelNotSupportedError,
        problem="Model bigcode/starcoder2-15b cannot chat: .*without a chat template",
        fix="Choose an instruction-tuned chat model",
        sent=0,
    ),
    Case(
        "Hub answers 500 during validation",
        chat={"validate_model": True},
        router=True,
        error=None,
        sent=1,
        faults=(Fault.server_error(500).at("/api/models/"),),
        log=r"Could not ask the Hub about model mistralai/Mistral-7B-Instruct-v0\.3 .*"
        r"going on without the check",
    ),
    # ------------------------------------------------------------------ the connection
    Case(
        "token without hf_ on the router",
        conn={"password": "sk-0123456789"},
        router=True,
        problem="the API token does not start with hf_",
        fix=_TOKEN_FIX,
    ),
    Case(
        "token pasted with its Bearer prefix",
        conn={"password": f"Bearer {TOKEN}"},
        router=True,
        problem="does not start with hf_",
        fix="put it in the API token field of connection 'hf_test'",
    ),
    Case(
        "no token on the router",
        conn={"password": None},
        router=True,
        problem="Connection 'hf_test' has no Hugging Face API token",
        fix=_TOKEN_FIX,
    ),
    Case(
        "connection that does not exist",
        conn={"conn_id": "hf_no_such_conn"},
        error=Exception,
        problem="hf_no_such_conn",
        fix=r"Admin.*Connections|AIRFLOW_CONN_HF_NO_SUCH_CONN",
    ),
    Case(
        "endpoint URL without a scheme",
        conn={"host": "localhost:8080"},
        problem="the endpoint URL 'localhost:8080' has no http:// or https:// scheme",
        fix=r"Enter the full URL, e\.g\. .*http://127\.0\.0\.1:8080",
    ),
    Case(
        "endpoint URL with another scheme",
        conn={"host": "ftp://models.example"},
        problem="has no http:// or https:// scheme",
        fix="or leave the field empty to use the Hugging Face router",
    ),
    Case(
        "unknown provider",
        conn={"extra": {"provider": "hugging-face"}},
        router=True,
        problem="unknown inference provider 'hugging-face'",
        fix=r"Choose one of: auto, .*hf-inference",
    ),
    _extra("timeout", "30s", "extra 'timeout' is '30s', not a number", "Set it to a number such as 120"),
    _extra("timeout", -1, _TIMEOUT_PROBLEM, "greater than 0"),
    _extra("timeout", 0, _TIMEOUT_PROBLEM, "greater than 0"),
    _extra("timeout", "nan", "extra 'timeout' is 'nan'", "a number such as 120"),
    _extra("max_retries", "three", "extra 'max_retries' is 'three', not a whole number", "such as 3"),
    _extra("max_retries", -1, "extra 'max_retries' is -1", "it must be a whole number from 0 to 20"),
    _extra("max_retries", 1.5, "is 1.5, not a whole number", "Set it to a whole number"),
    _extra("max_retries", "inf", "extra 'max_retries' is 'inf'", "a whole number"),
    # ------------------------------------------------------------------ generation settings
    _settings("max_tokens", 0, "a whole number of at least 1"),
    _settings("max_tokens", -5, "a whole number of at least 1"),
    _settings("max_tokens", True, "a whole number of at least 1"),
    _settings("max_tokens", 2.5, "a whole number of at least 1"),
    _settings("temperature", 2.5, "a number from 0 to 2"),
    _settings("temperature", -0.1, "a number from 0 to 2"),
    _settings("temperature", float("nan"), "a number from 0 to 2"),
    _settings("top_p", 0, "greater than 0 and at most 1"),
    _settings("top_p", 1.5, "greater than 0 and at most 1"),
    _settings("stop", [1, "\n"], "a string or a list of non-empty strings"),
    _settings("stop", "", "a list of non-empty strings"),
    _settings("seed", 1.5, "it must be a whole number"),
    _settings("seed", "42", "it must be a whole number"),
    Case(
        "response_format a string",
        chat={"response_format": "json"},
        problem="response_format='json' is not valid: it must be a dict",
        fix=_SCHEMA_EXAMPLE,
    ),
    Case(
        "response_format of an unknown type",
        chat={"response_format": {"type": "xml"}},
        problem="'type' is one of text, json_object, json_schema",
        fix=_SCHEMA_EXAMPLE,
    ),
    Case(
        "response_format json_schema without a schema",
        chat={"response_format": {"type": "json_schema", "json_schema": {"name": "answer"}}},
        problem="needs a JSON schema under json_schema.schema",
        fix=_SCHEMA_EXAMPLE,
    ),
    Case(
        "response_format schema not a dict",
        chat={"response_format": {"type": "json_schema", "json_schema": {"schema": "object"}}},
        problem="needs a JSON schema",
        fix=_SCHEMA_EXAMPLE,
    ),
    # ------------------------------------------------------------------ faults of the server
    Case(
        "401 on the endpoint",
        error=errors.InvalidTokenError,
        problem="Invalid API key: the token is incorrect or expired",
        fix=_TOKEN_FIX,
        sent=1,
        faults=(Fault.status(401),),
    ),
    Case(
        "403 on the router",
        router=True,
        error=errors.ModelAccessError,
        problem="Model not available",
        fix=r"license agreement on https://huggingface\.co/mistralai/Mistral-7B-Instruct-v0\.3",
        sent=1,
        faults=(Fault.status(403),),
    ),
    Case(
        "403 on an endpoint that names no model",
        error=errors.ModelAccessError,
        problem="Access denied: the endpoint refused this token",
        fix=r"Check that the token has access to the endpoint",
        avoid=r"huggingface\.co/the model",
        sent=1,
        faults=(Fault.status(403),),
    ),
    Case(
        "404 on an endpoint that names no model",
        error=errors.ModelNotFoundError,
        problem="Not found",
        fix="endpoint URL",
        avoid=r"'the model'|provider to 'auto'",
        sent=1,
        faults=(Fault.status(404),),
    ),
    Case(
        "413 prompt too long for the server",
        error=errors.InvalidRequestError,
        problem="The server rejected the request.*Server said: Input validation error",
        fix="Check the generation settings",
        sent=1,
        faults=(Fault.status(413, body={"error": "Input validation error: inputs too long"}),),
    ),
    Case(
        "endpoint answers an HTML page",
        error=errors.MalformedResponseError,
        problem="The server's answer is not a chat completion",
        fix="Check that the endpoint URL points at an OpenAI-compatible chat server",
        sent=1 + MAX_RETRIES,
        faults=(Fault.html(),) * (1 + MAX_RETRIES),
    ),
    Case(
        "proxy answers a 502 HTML page",
        error=errors.ServiceUnavailableError,
        problem="Service unavailable.*502 Bad Gateway",
        fix="raise the connection's max_retries or timeout",
        sent=1 + MAX_RETRIES,
        faults=(Fault.html(502),) * (1 + MAX_RETRIES),
    ),
    Case(
        "empty choices",
        error=errors.MalformedResponseError,
        problem="The server answered with no choices",
        fix="Check that the endpoint is a chat server",
        sent=1 + MAX_RETRIES,
        faults=(Fault.empty_choices(),) * (1 + MAX_RETRIES),
    ),
    Case(
        "empty choices in a stream",
        chat={"stream": True},
        error=errors.MalformedResponseError,
        problem="The stream ended before the server said it was finished",
        fix=r"[Cc]heck|stream=False|max_retries",
        sent=1 + MAX_RETRIES,
        faults=(Fault.empty_choices(),) * (1 + MAX_RETRIES),
    ),
]


def _param(case: Case):
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


def _hook(case: Case, fake, make_hook) -> HuggingFaceHook:
    conn: dict[str, Any] = {"password": TOKEN, "extra": {"max_retries": MAX_RETRIES, "timeout": 5}}
    if not case.router:
        conn["host"] = fake.url
    for key, value in case.conn.items():
        if key == "extra":
            conn["extra"].update(value)
        elif value is None:
            conn.pop(key, None)
        else:
            conn[key] = value
    conn_id = conn.pop("conn_id", None)
    if conn_id is not None:  # a connection nobody defined
        return HuggingFaceHook(hf_conn_id=conn_id)
    return make_hook(**conn)


@pytest.mark.parametrize("case", [_param(case) for case in HOOK_CASES])
def test_bad_input_to_the_hook(case, hub_redirect, make_hook, capsys):
    fake = hub_redirect
    fake.enqueue(*case.faults)
    arguments = {"user_prompt": "Hi", **case.chat}
    hook = _hook(case, fake, make_hook)
    if case.error is None:
        assert hook.chat(**arguments)["text"] == "Hello from the fake"
    else:
        with pytest.raises(case.error) as info:
            hook.chat(**arguments)
        message = str(info.value)
        assert re.search(case.problem, message), f"names no problem: {message}"
        assert re.search(case.fix, message), f"names no fix: {message}"
        assert not (case.avoid and re.search(case.avoid, message)), f"a wrong hint: {message}"
        assert isinstance(info.value, errors.HuggingFaceError), f"not the provider's error: {info.value!r}"
    if case.sent is NEVER_SENT:
        assert fake.requests == [], "a request was sent for a fault that is ours to catch"
    else:
        assert len(fake.chat_requests) == case.sent
    if case.log:
        assert re.search(case.log, capsys.readouterr().out, re.S)


def test_a_permanent_fault_is_not_retried_and_a_transient_one_is_bounded(hub_redirect, make_hook):
    """The count behind ``sent`` above: 1 + max_retries at most, whatever the server keeps doing."""
    hook = make_hook(host=hub_redirect.url, password=TOKEN, extra={"max_retries": MAX_RETRIES})
    hub_redirect.fault_plan = lambda n, body: Fault.server_error(503)
    with pytest.raises(errors.ServiceUnavailableError):
        hook.chat(user_prompt="Hi")
    assert len(hub_redirect.chat_requests) == 1 + MAX_RETRIES
    hub_redirect.reset()
    hub_redirect.fault_plan = lambda n, body: Fault.status(422, body={"error": "stop: too many"})
    with pytest.raises(errors.InvalidRequestError, match="Server said: stop: too many"):
        hook.chat(user_prompt="Hi")
    assert len(hub_redirect.chat_requests) == 1


def test_a_one_megabyte_prompt_is_sent_whole(fake_hf, make_hook, capsys):
    """No size limit of our own: the server decides (a 413 from it is the case above)."""
    prompt = "word " * 200_000
    hook = make_hook(host=fake_hf.url, password=TOKEN)
    assert hook.chat(user_prompt=prompt)["usage"]["prompt_tokens"] == 200_000
    (request,) = fake_hf.chat_requests
    assert request.body["messages"] == [{"role": "user", "content": prompt}]
    assert len(request.raw) > 1_000_000
    log = capsys.readouterr().out
    assert "1000000 prompt characters" in log
    assert prompt[:5000] not in log


def test_the_hook_sends_handlebars_text_as_it_is(fake_hf, make_hook):
    """Only the operator renders templates; text given to the hook is the message."""
    prompt = "{{#each x}}{{this}}{{/each}} {{missing.path}} {{> partial}} }}"
    make_hook(host=fake_hf.url, password=TOKEN).chat(user_prompt=prompt, system_prompt="{{else}}")
    assert fake_hf.chat_requests[0].body["messages"] == [
        {"role": "system", "content": "{{else}}"},
        {"role": "user", "content": prompt},
    ]


# ---------------------------------------------------------------------------------------------------
# The operator in real DAG runs: prompts are Handlebars over XCom, the other arguments Jinja.

DAG_FILE = Path(__file__).parent / "dags" / "hf_bad_inputs.py"


@dataclass(frozen=True)
class DagCase:
    """One case of ``hf_bad_inputs``: the chat task's final state, what the run's log must say.

    :param tries: tries of the chat task: 1 when Airflow's retry (retry_delay 0) is rightly skipped.
    :param failed: a producer task that must fail first (the chat task is then upstream_failed).
    """

    case: str
    state: str = "failed"
    problem: str = ""
    fix: str = ""
    sent: int = 0
    tries: int = 1
    failed: str = ""
    xfail: str = ""


_SCOPE_FIX = r"Names in scope: .*upstream.*Fix the path, or guard it with \{\{#if "

DAG_CASES = [
    DagCase(
        "missing_path",
        problem=r'user_prompt: \{\{upstream\.dta\}\} resolves to nothing: "upstream" has no key "dta"',
        fix=r'Did you mean "data"\?.*' + _SCOPE_FIX,
    ),
    DagCase(
        "system_missing_path",
        problem=r'system_prompt: \{\{nobody\.text\}\} resolves to nothing: no name "nobody" in scope',
        fix=_SCOPE_FIX,
    ),
    DagCase(
        "path_into_string",
        problem=r'"upstream\.data" is a string, not a dict, so it has no "first"',
        fix=_SCOPE_FIX,
    ),
    DagCase(
        "index_past_end",
        problem=r'"upstream\.items" has 2 item\(s\), so index 5 is past its end',
        fix=_SCOPE_FIX,
    ),
    DagCase(
        "unclosed_block",
        problem=r"line 1, column 1: \{\{#if upstream\.data\}\} is never closed",
        fix=r"add \{\{/if\}\} after its content",
    ),
    DagCase(
        "unclosed_tag",
        problem=r"line 1, column 12: the tag '\{\{upstream\.data' is never closed",
        fix=r"add \}\}",
    ),
    DagCase(
        "unknown_helper",
        problem=r"\{\{shout upstream\.data\}\}: unknown helper 'shout'",
        fix=r"the helpers are json, lookup, log, #if, #unless, #each, #with",
    ),
    DagCase(
        "else_outside_block",
        problem=r"line 1, column 3: \{\{else\}\} is outside any block",
        fix=r"remove it or put it inside \{\{#if \.\.\.\}\}",
    ),
    DagCase(
        "renders_blank",
        problem="user_prompt is empty",
        fix="give the model something to answer",
    ),
    DagCase(
        "missing_connection",
        problem="hf_no_such_conn",
        fix=r"Admin.*Connections|AIRFLOW_CONN_HF_NO_SUCH_CONN",
    ),
    # Wrong types fail for good, naming the argument (not a raw AttributeError that Airflow retries).
    DagCase(
        "model_not_a_string", problem=r"model=123 is not valid", fix=r"must be a model id string, e\.g\."
    ),
    DagCase("conn_id_none", problem=r"hf_conn_id=None is not valid", fix=r"hf_conn_id='huggingface_default'"),
    DagCase("jinja_max_tokens", state="success", sent=1),
    DagCase("jinja_temperature", state="success", sent=1),
    # Airflow's own XCom refuses bytes and lone surrogates: the producer fails, nothing is sent. The log
    # holds Airflow's whole message for bytes (3.3's names the fix, serialize(); 3.1 and 3.2 name the type).
    DagCase(
        "bytes_utf8",
        state="upstream_failed",
        tries=0,
        failed="raw_utf8",
        problem=re.escape(xcom_refusal(b"ok")),
    ),
    DagCase(
        "bytes_invalid_utf8",
        state="upstream_failed",
        tries=0,
        failed="raw_invalid",
        problem=re.escape(xcom_refusal(b"\xff")),
    ),
    DagCase(
        "surrogate_xcom",
        state="upstream_failed",
        tries=0,
        failed="surrogate",
        problem=r"UnicodeEncodeError: 'utf-8' codec can't encode character '\\udcff'",
        fix="surrogates not allowed",
    ),
    # Data, not template: sent as it is.
    DagCase("template_like_xcom", state="success", sent=1),
    DagCase("replaced_bytes", state="success", sent=1),
]
SENT_CONTENT = {
    "template_like_xcom": "Echo: {{params.secret}} {{#each upstream.items}}x{{/each}} "
    "{{> partial}} \\{{y}} }}",
    "replaced_bytes": "Text: ok \ufffd\ufffd\x00 end",
}


@pytest.fixture(scope="module")
def bad_inputs_dag(airflow_db):
    bag = dag_bag(DAG_FILE)
    assert not bag.import_errors, bag.import_errors
    return bag.dags["hf_bad_inputs"]


def test_every_case_of_the_dag_file_is_in_the_table(bad_inputs_dag):
    chat_tasks = {t.task_id for t in bad_inputs_dag.tasks if type(t).__name__ == "HuggingFaceChatOperator"}
    assert chat_tasks == {c.case for c in DAG_CASES}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, id=c.case, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else [])
        for c in DAG_CASES
    ],
)
def test_bad_input_to_the_operator(case, bad_inputs_dag, fake_hf, monkeypatch, capsys):
    monkeypatch.setenv(
        "AIRFLOW_CONN_HF_FAKE",
        json.dumps({"conn_type": "huggingface", "host": fake_hf.url, "password": TOKEN, "extra": {}}),
    )
    capsys.readouterr()
    dag_run = bad_inputs_dag.test(run_conf={"case": case.case})
    log = capsys.readouterr().out
    tis = {ti.task_id: ti for ti in dag_run.get_task_instances()}
    chat = tis[case.case]
    ran = sorted(task_id for task_id, ti in tis.items() if str(ti.state) != "skipped")
    assert str(chat.state) == case.state, (ran, log[-3000:])
    assert chat.try_number == case.tries, "Airflow retried a failure that no retry can cure"
    if case.failed:
        assert str(tis[case.failed].state) == "failed"
    if case.problem:
        assert re.search(case.problem, log), f"names no problem: {log[-3000:]}"
        assert re.search(case.fix, log), f"names no fix: {log[-3000:]}"
    assert len(fake_hf.chat_requests) == case.sent
    if case.case in SENT_CONTENT:
        assert fake_hf.chat_requests[0].body["messages"] == [
            {"role": "user", "content": SENT_CONTENT[case.case]}
        ]
        assert chat.xcom_pull(task_ids=case.case)["text"] == "Hello from the fake"
    if case.state == "success" and case.case.startswith("jinja_"):
        sent = fake_hf.chat_requests[0].body
        assert sent.get("max_tokens", 5) == 5
        assert sent.get("temperature", 0.5) == 0.5
        assert isinstance(sent.get("max_tokens", 5), int)
