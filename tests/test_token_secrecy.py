"""The token never leaves the Authorization header, and never travels to a server the connection
does not name.

Random canary tokens go into the connections of one DAG run that takes every path a token travels
(tests/dags/hf_secrecy.py: the chat operator in the worker, streamed, deferred, structured, with
fallback models and mapped; the batch operator writing its replies to a file; the branch operator; the
decorator; on an endpoint and on the router; and failing runs: 401, 403, 500 after retries, a timeout, a
401 deferred, in a batch and on the router, a gated model, a bad connection setting), then into direct
hook calls (every fault of the fake, streams, the async path, test_connection with a bad token, model
validation). Faults echo the token back, as a careless server or proxy could, to prove that redaction
works. Then the canaries are searched for everywhere they could have been written: every file under
AIRFLOW_HOME (the SQLite metadata DB as bytes, the batch's reply files, task logs if any), every table of
the metadata DB decoded (``xcom``, ``rendered_task_instance_fields`` and ``trigger`` among them), the
captured stdout and stderr (the task logs), every exception's text, repr and printed traceback, the reprs
of hooks, settings, clients, requests and operators, and every request the fake recorded, except its
Authorization header.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sqlite3
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_huggingface import exceptions as errors
from tests.airflow_internals import without_supervisor_echo
from tests.fakes.hf_api import DEFAULT_REDIRECT_HOSTS, FakeHF, Fault, clear_hub_caches, redirect_hub_to

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook

CANARY = f"hf_CANARY{secrets.token_hex(16)}"  # the endpoint connections' token
ROUTER_CANARY = f"hf_CANARY{secrets.token_hex(16)}"  # the router connection's token
# Searched without their hf_ prefix, so that a half-masked copy counts too.
NEEDLES = (CANARY.removeprefix("hf_"), ROUTER_CANARY.removeprefix("hf_"))
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
# The tasks of hf_secrecy that must fail, each on a fault that echoes its token; and the branch not taken.
FAILING = {
    "refused",
    "forbidden",
    "broken",
    "hanging",
    "deferred_refused",
    "batch_refused",
    "embed_refused",
    "router_refused",
    "router_gated",
    "bad_connection",
}
SKIPPED = {"right"}


def reply(body: dict[str, Any]) -> str:
    """JSON when JSON is asked for (naming a choice for the branch), so that those tasks get through too."""
    asked = json.dumps(body.get("response_format") or "")
    if '"choice"' in asked:
        return '{"choice": "left", "reason": "the first"}'
    return '{"n": 2, "words": ["a", "b"]}' if body.get("response_format") else "Hello from the fake"


def echo(code: int, token: str = CANARY) -> Fault:
    """An error whose body and X-Error-Message repeat the token."""
    words = f"Invalid credentials for token {token}"
    return Fault.status(code, body={"error": words}, headers={"X-Error-Message": words})


def exception_texts(error: BaseException) -> list[str]:
    """What an exception shows: its text, repr, args, server message and traceback as printed."""
    texts = [str(error), repr(error), *map(str, error.args), "".join(traceback.format_exception(error))]
    return [*texts, str(getattr(error, "server_message", None))]


class Evidence:
    """Everything searched for the canaries, by place."""

    def __init__(self) -> None:
        self.places: dict[str, str | bytes] = {}
        self.calls = 0

    def add(self, place: str, content: str | bytes | None) -> None:
        self.places[f"{place} #{len(self.places)}"] = content or ""

    def add_error(self, place: str, error: BaseException) -> None:
        for number, text in enumerate(exception_texts(error)):
            self.add(f"{place} text {number}", text)

    def call(self, place: str, action: Callable[[], Any]) -> Any:
        """Run ``action``; keep its result's repr or its exception's texts."""
        self.calls += 1
        try:
            result = action()
        except Exception as error:
            self.add_error(place, error)
            return error
        self.add(f"{place} result", repr(result))
        return result

    def add_output(self, captured: Any) -> None:
        self.add("stdout", without_supervisor_echo(captured.out))
        self.add("stderr", captured.err)

    def add_home(self, home: Path) -> list[Path]:
        files = [path for path in sorted(home.rglob("*")) if path.is_file()]
        for path in files:
            self.add(f"file {path.relative_to(home)}", path.read_bytes())
        return files

    def add_database(self, path: Path) -> dict[str, int]:
        """Every table of the metadata DB, its values decoded (JSON unescaped); rows per table."""
        rows_by_table = {}
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                rows = db.execute(f'SELECT * FROM "{table}"').fetchall()
                rows_by_table[table] = len(rows)
                self.add(f"table {table}", "\n".join(_decoded(value) for row in rows for value in row))
        finally:
            db.close()
        return rows_by_table

    def add_requests(self, fake: FakeHF, name: str) -> None:
        """A request may carry the token in its Authorization header only."""
        for number, request in enumerate(fake.requests):
            others = {k: v for k, v in request.headers.items() if k != "authorization"}
            self.add(
                f"{name} request {number} {request.method} {request.path}",
                json.dumps([request.path, request.query, others]).encode() + b"\n" + request.raw,
            )

    def add_reprs(self, name: str, objects: list[Any]) -> None:
        for number, item in enumerate(objects):
            self.add(f"{name} repr {number}", f"{item!r} {getattr(item, '__dict__', '')!r}")

    def assert_no_hits(self, summary: str, capfd: Any) -> None:
        """Print what was searched (``summary``), then fail naming each place that holds a canary."""
        found = self.hits()
        summary = f"{summary}; canary hits: {sum(found.values())}"
        with capfd.disabled():
            print(f"\n{summary}")
        assert not found, f"{summary}: {found}"

    def hits(self) -> dict[str, int]:
        found = {}
        for place, content in self.places.items():
            needles = [needle.encode() if isinstance(content, bytes) else needle for needle in NEEDLES]
            count = sum(content.count(needle) for needle in needles)  # type: ignore[arg-type]
            if count:
                found[place] = count
        return found


def _decoded(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value)
    try:
        return f"{text}\n{json.dumps(json.loads(text), ensure_ascii=False)}"
    except (ValueError, TypeError):
        return text


def hosts(requests: list[Any]) -> set[str]:
    return {r.headers.get("host", "").partition(":")[0] for r in requests}


def test_the_canary_token_is_written_nowhere(hub_redirect, dagbag, use_connection, monkeypatch, capfd):
    fake = hub_redirect
    fake.reply = reply
    fake.add_model("secrecy/refused", tags=["conversational"], providers={"hf-inference": "live"})
    fake.model_faults = {
        "secrecy/refused": echo(401),
        "secrecy/forbidden": echo(403),
        "secrecy/broken": echo(500),
        "secrecy/hanging": Fault.hang(3),
        "secrecy/gone": Fault.status(404, {"error": f"Model secrecy/gone does not exist for {CANARY}"}),
    }
    endpoint = {"host": fake.url, "password": CANARY}
    retried = {"max_retries": 1, "timeout": 5}
    use_connection("hf_secrecy", **endpoint, extra=retried)
    use_connection("hf_secrecy_slow", **endpoint, extra={**retried, "timeout": 0.3})
    use_connection("hf_secrecy_bad", **endpoint, extra={"timeout": "soon"})
    use_connection("hf_secrecy_router", password=ROUTER_CANARY, extra={**retried, "bill_to": "acme"})
    home = Path(os.environ["AIRFLOW_HOME"])
    dag = dagbag["hf_secrecy"]

    dag_run = dag.test(run_conf={"out": f"file://{home}/secrecy-replies"})

    states = {f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in dag_run.get_task_instances()}
    expected = {
        f"{task_id}[-1]": "failed" if task_id in FAILING else "skipped" if task_id in SKIPPED else "success"
        for task_id in dag.task_dict
        if task_id != "mapped"
    }
    assert states == {**expected, "mapped[0]": "success", "mapped[1]": "success"}
    captured = capfd.readouterr()
    log = without_supervisor_echo(captured.out)
    # Each failure is the token's own error, its echo redacted, not dropped.
    assert "Server said: Invalid credentials for token ***" in log
    assert "extra 'timeout' is 'soon', not a number" in log
    assert "Model secrecy/gone cannot answer: not found" in log

    evidence = Evidence()
    evidence.add_output(captured)
    evidence.add_requests(fake, "fake")
    evidence.add_reprs("hf_secrecy task", list(dag.tasks))
    files = evidence.add_home(home)
    replies = [path for path in files if "secrecy-replies" in path.parts]
    assert {path.relative_to(home / "secrecy-replies").parts[0] for path in replies} >= {
        "batch",
        "batch_router",
        "embed",
        "embed_router",
    }
    database = Path(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///"))
    assert database in files
    rows = evidence.add_database(database)
    for table in ("xcom", "rendered_task_instance_fields", "trigger", "task_instance_history"):
        assert rows[table] > 0, (table, rows)

    # The tokens were in use: each in Authorization, and only to the servers its connection names.
    endpoint_calls = [r for r in fake.requests if r.token == CANARY]
    router_calls = [r for r in fake.requests if r.token == ROUTER_CANARY]
    assert hosts(endpoint_calls) == {"127.0.0.1"}
    assert hosts(router_calls) == DEFAULT_REDIRECT_HOSTS  # the router, and the Hub for the model checks
    assert fake.pending_faults == []

    evidence.assert_no_hits(
        f"token secrecy, DAG run: {len(states)} task instances ({len(FAILING)} failing on echoed tokens), "
        f"{len(endpoint_calls) + len(router_calls)} requests carried a token in Authorization; "
        f"{len(evidence.places)} places searched: {len(files)} files under AIRFLOW_HOME, {len(rows)} DB "
        f"tables ({sum(rows.values())} rows) decoded, {len(fake.requests)} recorded requests, stdout "
        f"({len(captured.out)} chars) and stderr, reprs",
        capfd,
    )


def test_the_canary_token_is_written_nowhere_by_hook_calls(hub_redirect, dagbag, make_hook, capfd):
    fake = hub_redirect
    fake.reply = reply
    evidence = Evidence()
    endpoint = make_hook("hf_secrecy_endpoint", host=fake.url, password=CANARY, extra={"max_retries": 1})
    endpoint_fast = make_hook("hf_secrecy_fast", host=fake.url, password=CANARY, extra={"timeout": 0.3})
    router = make_hook("hf_secrecy_router", password=CANARY, extra={"max_retries": 1})
    # (name, hook, faults, arguments of chat, the error it must end in, or None)
    calls = [
        ("endpoint chat", endpoint, [], {}, None),
        ("endpoint stream", endpoint, [], {"stream": True}, None),
        ("endpoint 401", endpoint, [echo(401)], {}, errors.InvalidTokenError),
        ("endpoint 403", endpoint, [echo(403)], {}, errors.ModelAccessError),
        ("endpoint 500", endpoint, [echo(500)] * 2, {}, errors.ServiceUnavailableError),
        ("endpoint 429", endpoint, [Fault.rate_limited(retry_after=0)] * 2, {}, errors.RateLimitError),
        ("endpoint loading", endpoint, [Fault.loading(0)] * 2, {}, errors.ServiceUnavailableError),
        ("endpoint html", endpoint, [Fault.html()] * 2, {}, errors.MalformedResponseError),
        ("endpoint malformed", endpoint, [Fault.malformed_json()] * 2, {}, errors.MalformedResponseError),
        ("endpoint no choices", endpoint, [Fault.empty_choices()] * 2, {}, errors.MalformedResponseError),
        ("endpoint reset", endpoint, [Fault.reset()] * 2, {}, errors.EndpointUnreachableError),
        ("endpoint timeout", endpoint_fast, [Fault.hang(3)] * 4, {}, errors.ResponseTimeoutError),
        (
            "stream cut",
            endpoint,
            [Fault.cut_stream()] * 2,
            {"stream": True},
            errors.HuggingFaceTransientError,
        ),
        (
            "stream error event",
            endpoint,
            [Fault.stream_error(message=f"overloaded for {CANARY}")] * 2,
            {"stream": True},
            errors.ServiceUnavailableError,
        ),
        ("stream 401", endpoint, [echo(401)], {"stream": True}, errors.InvalidTokenError),
        ("router chat", router, [], {"validate_model": True}, None),
        ("router stream", router, [], {"stream": True}, None),
        ("router gated model", router, [], {"model": LLAMA, "validate_model": True}, errors.ModelAccessError),
        # A model not checked yet in this process: the Hub is asked, answers 500, the call goes on.
        (
            "router Hub 500",
            router,
            [echo(500).at("/api/models/")],
            {"model": "a/b", "validate_model": True},
            None,
        ),
        ("router 401", router, [echo(401)], {}, errors.InvalidTokenError),
    ]
    outcomes = {}
    for name, hook, faults, arguments, expected in calls:
        fake.enqueue(*faults)
        outcomes[name] = outcome = evidence.call(
            name, lambda hook=hook, kw=arguments: hook.chat(user_prompt="Hi", **kw)
        )
        if expected is None:
            assert isinstance(outcome, dict), (name, outcome)
        else:
            assert isinstance(outcome, expected), (name, outcome)
        assert fake.pending_faults == [], name
    fake.enqueue(echo(500), echo(500))
    request = endpoint.prepare_chat(user_prompt="Hi", system_prompt="Be brief.", max_tokens=5)
    failed = evidence.call("endpoint achat 500", lambda: asyncio.run(endpoint.achat(request)))
    assert isinstance(failed, errors.ServiceUnavailableError), failed
    assert evidence.call("endpoint test_connection", endpoint.test_connection)[0]
    fake.enqueue(echo(401).at("/v1/models"))
    assert not evidence.call("endpoint test_connection 401", endpoint.test_connection)[0]
    assert evidence.call("router test_connection", router.test_connection)[0]
    fake.valid_tokens = {"hf_someoneelse0000"}
    ok, message = evidence.call("router test_connection, token refused", router.test_connection)
    assert not ok
    assert "Invalid API key" in message
    refused = evidence.call("router chat, token refused", lambda: router.chat(user_prompt="Hi", model="x/y"))
    assert isinstance(refused, errors.InvalidTokenError), refused
    fake.valid_tokens = None
    for name, hook in (("endpoint", endpoint), ("router", router)):
        evidence.add(f"{name} hook repr", repr(hook))
        evidence.add(f"{name} settings repr", repr(hook.settings))
        evidence.add(f"{name} client repr", repr(hook.client))
        evidence.add(f"{name} async client repr", repr(hook.get_async_client()))
        evidence.add(f"{name} request", f"{hook.prepare_chat(user_prompt='Hi')!s} {request!r}")
    # Every operator of every test and example DAG, as parsed.
    evidence.add_reprs("task", [task for dag in dagbag.values() for task in dag.tasks])
    # Proof that the token was in use: Authorization headers carried it to the router, the Hub, the endpoint.
    carried = [r for r in fake.requests if r.token == CANARY]
    assert {"router.huggingface.co", "huggingface.co", "127.0.0.1"} <= hosts(carried)

    captured = capfd.readouterr()
    evidence.add_output(captured)
    evidence.add_requests(fake, "fake")
    evidence.assert_no_hits(
        f"token secrecy, hook: {evidence.calls} hook calls, {len(carried)} requests carried the token in "
        f"Authorization; {len(evidence.places)} places searched: {len(fake.requests)} recorded requests, "
        f"stdout ({len(captured.out)} chars) and stderr, exceptions and reprs",
        capfd,
    )
    # Redacted, not dropped: in the error, and in the log line of the retry.
    assert "Server said: Invalid credentials for token ***" in str(outcomes["endpoint 401"])
    assert "Invalid credentials for token ***" in captured.out


def requests_with_token(fake: FakeHF) -> list[Any]:
    needle = NEEDLES[0]
    return [
        r
        for r in fake.requests
        if needle.encode() in r.raw or needle in json.dumps([r.path, r.query, r.headers])
    ]


def test_the_token_goes_only_to_the_server_the_connection_names(fake_hf, make_hook, capfd):
    """Endpoint connection at fake A, router and Hub redirected to fake B: B never sees the token.
    Router connection: the token goes to the router and the Hub only, and A never sees it."""
    a = fake_hf
    b = FakeHF().start()
    clear_hub_caches()
    undo = redirect_hub_to(b.url)
    try:
        endpoint = make_hook("hf_secrecy_a", host=a.url, password=CANARY, extra={"max_retries": 1})
        requests = _exercise(endpoint, a)
        a_carried = len([r for r in a.requests if r.token == CANARY])
        assert a_carried == requests
        assert requests_with_token(b) == [], "the Hub or router saw an endpoint connection's token"
        b_before = len(b.requests)

        a_before = len(a.requests)
        router = make_hook("hf_secrecy_b", password=CANARY, extra={"max_retries": 1})
        hf_inference = make_hook("hf_secrecy_c", password=CANARY, extra={"provider": "hf-inference"})
        _exercise(router, b)
        hf_inference.chat(user_prompt="Hi", validate_model=True)
        assert a.requests[a_before:] == []
        seen = requests_with_token(b)
        seen_hosts = {r.headers.get("host") for r in seen}
        assert seen
        assert seen_hosts <= DEFAULT_REDIRECT_HOSTS, seen_hosts
        assert all(r.token == CANARY for r in seen)  # and there in Authorization only
        assert any("/hf-inference/" in r.path for r in seen)
        with capfd.disabled():
            print(
                f"\ntoken routing: endpoint A {a_carried} requests with the token, router/Hub B "
                f"{b_before} requests, 0 with the token; router connection: {len(seen)} requests with the "
                f"token, all to {sorted(seen_hosts)}, A {len(a.requests) - a_before}"
            )
    finally:
        undo()
        clear_hub_caches()
        b.stop()


def _exercise(hook: HuggingFaceHook, server: FakeHF) -> int:
    """A chat (validated on the router), a stream, an async chat, test_connection, a 401 and a 500
    after a retry; the number of requests an endpoint receives for them."""
    assert hook.chat(user_prompt="Hi", validate_model=True)["text"]
    assert hook.chat(user_prompt="Hi", stream=True)["text"]
    request = hook.prepare_chat(user_prompt="Hi")
    assert asyncio.run(hook.achat(request))["text"]
    ok, message = hook.test_connection()
    assert ok, message
    server.enqueue(echo(401), echo(500), echo(500))
    for _ in range(2):
        with pytest.raises(errors.HuggingFaceError):
            hook.chat(user_prompt="Hi")
    assert server.pending_faults == []
    return 7


def test_an_error_keeps_no_unredacted_copy_of_what_the_server_echoed(fake_hf, make_hook):
    hook = make_hook(host=fake_hf.url, password=CANARY, extra={"max_retries": 0})
    fake_hf.enqueue(echo(401))
    with pytest.raises(errors.InvalidTokenError) as info:
        hook.chat(user_prompt="Hi")
    assert NEEDLES[0] not in str(info.value)  # the message itself is redacted
    chain, error = [], info.value.__context__
    while error is not None:
        chain.append(f"{error!s} {error!r}")
        error = error.__context__
    assert not any(NEEDLES[0] in text for text in chain)
