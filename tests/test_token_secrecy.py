"""The token never leaves the Authorization header, and never travels to a server the connection
does not name.

A random canary token goes into the connections of every test DAG and both example DAGs, run once
each with ``dag.test()``, then into failing runs (401, 403, 500 after retries, a timeout, a 401 on the
router) and into direct hook calls (every fault of the fake, streams, the async path, test_connection
with a bad token, model validation). Faults echo the token back, as a careless server or proxy could,
to prove that redaction works. Then the canary is searched for everywhere it could have been
written: every file under AIRFLOW_HOME (the SQLite metadata DB as bytes, task logs if any), every
table of the metadata DB decoded (``xcom`` and ``rendered_task_instance_fields`` among them), the
captured stdout and stderr, every exception's text, repr and printed traceback, the reprs of hooks,
settings, clients, requests and operators, and every request the fake recorded, except its
Authorization header.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sqlite3
import traceback
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_huggingface import exceptions as errors
from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook
from tests.airflow_internals import dag_bag, without_supervisor_echo
from tests.fakes.hf_api import DEFAULT_REDIRECT_HOSTS, FakeHF, Fault, clear_hub_caches, redirect_hub_to

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parent.parent
CANARY = f"hf_CANARY{secrets.token_hex(16)}"
# Searched without its hf_ prefix, so that a half-masked copy counts too.
NEEDLE = CANARY.removeprefix("hf_")
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
EXAMPLES = ("example_huggingface_chat", "example_huggingface_mapped")
# Runs that would do nothing, or fail at once, with their DAG's default params.
# Files of vectors go under AIRFLOW_HOME, where every file is searched.
_VECTORS = (Path(os.environ["AIRFLOW_HOME"]) / "vectors").as_uri()
RUN_CONF = {
    "hf_soak": {"calls": [{"user_prompt": "Hi"}, {"user_prompt": "Hi", "stream": True}]},
    "hf_bad_inputs": {"case": "template_like_xcom"},
    "hf_templates": {"who": "Ada", "flag": True},
    "hf_embed_dicts": {"items": [{"id": "a", "title": "T", "body": "B"}], "out": _VECTORS},
    "hf_embed_chunks": {"items": [{"id": "a", "body": "One two three. " * 9}], "out": _VECTORS},
    "hf_embed_durable": {"out": _VECTORS},
    "example_huggingface_retrieval": {"vectors": _VECTORS},
}


def reply(body: dict[str, Any]) -> str:
    """JSON when JSON is asked for, so that the structured-output DAGs get through too."""
    return '{"n": 2, "words": ["a", "b"]}' if body.get("response_format") else "Hello from the fake"


def echo(code: int) -> Fault:
    """An error whose body and X-Error-Message repeat the token."""
    words = f"Invalid credentials for token {CANARY}"
    return Fault.status(code, body={"error": words}, headers={"X-Error-Message": words})


def connection(fake: FakeHF | None, **extra: Any) -> str:
    """A connection holding the canary: an endpoint at ``fake``, or the router when ``fake`` is None."""
    conn: dict[str, Any] = {
        "conn_type": "huggingface",
        "password": CANARY,
        "extra": {"max_retries": 1, "timeout": 5, "backoff": 0.01, **extra},
    }
    if fake is not None:
        conn["host"] = fake.url
    return json.dumps(conn)


def use(monkeypatch, conn_id: str, fake: FakeHF | None, **extra: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection(fake, **extra))


def chat_conn_ids(dag: Any) -> set[str]:
    """The connections a DAG's tasks name (chat, batch, decorated, mapped)."""
    found = set()
    for task in dag.tasks:
        partial = getattr(task, "partial_kwargs", None)
        if partial is None:
            found.add(getattr(task, "hf_conn_id", None))
        elif getattr(task, "operator_class", object).__module__.startswith("airflow_provider_huggingface"):
            found.add(partial.get("hf_conn_id", HuggingFaceHook.default_conn_name))
    return {conn_id for conn_id in found if conn_id and "{{" not in conn_id}


def exception_texts(error: BaseException) -> list[str]:
    """What an exception shows: its text, repr, args, server message and traceback as printed."""
    texts = [str(error), repr(error), *map(str, error.args), "".join(traceback.format_exception(error))]
    return [*texts, str(getattr(error, "server_message", None))]


class Evidence:
    """Everything searched for the canary, by place."""

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

    def add_home(self, home: Path) -> int:
        files = [path for path in sorted(home.rglob("*")) if path.is_file()]
        for path in files:
            self.add(f"file {path.relative_to(home)}", path.read_bytes())
        return len(files)

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

    def hits(self) -> dict[str, int]:
        needle = NEEDLE.encode()
        found = {}
        for place, content in self.places.items():
            count = content.count(needle if isinstance(content, bytes) else NEEDLE)
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


@pytest.fixture(scope="module")
def all_dags(airflow_db):
    """Every DAG of tests/dags and example_dags; retried at once, so no run waits minutes."""
    dags = {}
    for folder in (ROOT / "tests" / "dags", ROOT / "example_dags"):
        bag = dag_bag(folder)
        assert not bag.import_errors, bag.import_errors
        dags.update(bag.dags)
    for dag in dags.values():
        for task in dag.tasks:
            task.retry_delay = timedelta(0)
    return dags


def run(dag: Any, **kwargs: Any) -> dict[str, str]:
    """``dag.test()``; the state of each task instance."""
    dag_run = dag.test(**kwargs)
    return {f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in dag_run.get_task_instances()}


def test_the_canary_token_is_written_nowhere(all_dags, hub_redirect, make_hook, monkeypatch, capfd):
    fake = hub_redirect
    fake.reply = reply
    evidence = Evidence()
    states: dict[str, dict[str, str]] = {}

    # 1. Every DAG once: test DAGs on endpoint connections, the examples' huggingface_default on the
    #    router (Hub validation of the default model included).
    for dag in all_dags.values():
        for conn_id in chat_conn_ids(dag):
            router = conn_id == HuggingFaceHook.default_conn_name
            use(monkeypatch, conn_id, None if router else fake)
    for dag_id in sorted(all_dags):
        states[dag_id] = run(all_dags[dag_id], run_conf=RUN_CONF.get(dag_id))
    for dag_id in (*EXAMPLES, "hf_templates", "hf_mapped", "hf_secrecy"):
        assert set(states[dag_id].values()) == {"success"}, states[dag_id]
    succeeded = sum(set(outcome.values()) <= {"success", "skipped"} for outcome in states.values())

    # 2. Failing runs: Airflow retries the task once, at once.
    failing = {
        "401": ([echo(401)], fake, {}),
        "403": ([echo(403)], fake, {}),
        "500 after retries": ([echo(500)] * 4, fake, {}),
        "timeout": ([Fault.hang(3)] * 4, fake, {"timeout": 0.3}),
        "401 on the router": ([echo(401)], None, {}),
    }
    for name, (faults, server, extra) in failing.items():
        use(monkeypatch, "hf_secrecy", server, **extra)
        fake.enqueue(*faults)
        states[f"hf_secrecy {name}"] = outcome = run(all_dags["hf_secrecy"])
        assert outcome["ask[-1]"] == "failed", (name, outcome)
        assert fake.pending_faults == [], name

    # 3. The hook directly: every fault of the fake, streams, the async path, test_connection.
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
    for name, hook, faults, arguments, expected in calls:
        fake.enqueue(*faults)
        outcome = evidence.call(name, lambda hook=hook, kw=arguments: hook.chat(user_prompt="Hi", **kw))
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
    for dag in all_dags.values():
        for task in dag.tasks:
            evidence.add(f"{dag.dag_id}.{task.task_id} repr", f"{task!r} {getattr(task, '__dict__', '')!r}")
    # Proof that the token was in use: Authorization headers carried it to both the router and the Hub.
    carried = [r for r in fake.requests if r.token == CANARY]
    hosts = {r.headers.get("host", "").partition(":")[0] for r in carried}
    assert {"router.huggingface.co", "huggingface.co", "127.0.0.1"} <= hosts, hosts

    # 4. The search.
    captured = capfd.readouterr()
    evidence.add("stdout", without_supervisor_echo(captured.out))
    evidence.add("stderr", captured.err)
    evidence.add_requests(fake, "fake")
    home = Path(os.environ["AIRFLOW_HOME"])
    files = evidence.add_home(home)
    database = Path(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///"))
    assert database.is_file()
    assert home in database.parents
    rows = evidence.add_database(database)
    assert rows["xcom"] > 0, rows
    assert rows["rendered_task_instance_fields"] > 0, rows

    found = evidence.hits()
    summary = (
        f"token secrecy: {len(states)} DAG runs of {len(all_dags)} DAGs ({succeeded} all green), "
        f"{evidence.calls} hook calls, {len(carried)} requests carried the token in Authorization; "
        f"{len(evidence.places)} places searched: {files} files under AIRFLOW_HOME, {len(rows)} DB tables "
        f"({sum(rows.values())} rows) decoded, {len(fake.requests)} recorded requests, stdout "
        f"({len(captured.out)} chars) and stderr, exceptions and reprs; canary hits: {sum(found.values())}"
    )
    with capfd.disabled():
        print(f"\n{summary}")
    assert not found, f"{summary}: {found}"
    assert "Server said: Invalid credentials for token ***" in captured.out  # redacted, not dropped


def requests_with_token(fake: FakeHF) -> list[Any]:
    needle = NEEDLE.encode()
    return [r for r in fake.requests if needle in r.raw or NEEDLE in json.dumps([r.path, r.query, r.headers])]


def test_the_token_goes_only_to_the_server_the_connection_names(
    fake_hf, make_hook, monkeypatch, airflow_db, capfd
):
    """Endpoint connection at fake A, router and Hub redirected to fake B: B never sees the token.
    Router connection: the token goes to the router and the Hub only, and A never sees it."""
    a = fake_hf
    b = FakeHF().start()
    clear_hub_caches()
    undo = redirect_hub_to(b.url)
    try:
        endpoint = make_hook("hf_secrecy_a", host=a.url, password=CANARY, extra={"max_retries": 1})
        requests = _exercise(endpoint, a)
        use(monkeypatch, "hf_secrecy", a)
        bag = dag_bag(ROOT / "tests" / "dags" / "hf_secrecy.py")
        assert set(run(bag.dags["hf_secrecy"]).values()) == {"success"}
        a_carried = len([r for r in a.requests if r.token == CANARY])
        assert a_carried == requests + 1  # and the DAG run's one
        assert requests_with_token(b) == [], "the Hub or router saw an endpoint connection's token"
        b_before = len(b.requests)

        a_before = len(a.requests)
        router = make_hook("hf_secrecy_b", password=CANARY, extra={"max_retries": 1})
        hf_inference = make_hook("hf_secrecy_c", password=CANARY, extra={"provider": "hf-inference"})
        _exercise(router, b)
        hf_inference.chat(user_prompt="Hi", validate_model=True)
        assert a.requests[a_before:] == []
        seen = requests_with_token(b)
        hosts = {r.headers.get("host") for r in seen}
        assert seen
        assert hosts <= DEFAULT_REDIRECT_HOSTS, hosts
        assert all(r.token == CANARY for r in seen)  # and there in Authorization only
        assert any("/hf-inference/" in r.path for r in seen)
        with capfd.disabled():
            print(
                f"\ntoken routing: endpoint A {a_carried} requests with the token, router/Hub B "
                f"{b_before} requests, 0 with the token; router connection: {len(seen)} requests with the "
                f"token, all to {sorted(hosts)}, A {len(a.requests) - a_before}"
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
    assert NEEDLE not in str(info.value)  # the message itself is redacted
    chain, error = [], info.value.__context__
    while error is not None:
        chain.append(f"{error!s} {error!r}")
        error = error.__context__
    assert not any(NEEDLE in text for text in chain)
