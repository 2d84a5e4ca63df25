"""HuggingFaceChatTrigger driven with asyncio against the local fake over real HTTP.

The trigger reads its connection in a worker thread (``airflow_compat.run_blocking``); outside a
triggerer the SDK falls back to the secrets backends, so ``make_hook``'s ``AIRFLOW_CONN_*`` variable
is what it finds, as in a triggerer with environment-variable connections.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import threading
from collections import Counter
from typing import TYPE_CHECKING

import pytest

from airflow_provider_huggingface._internal.airflow_compat import AirflowFailException
from airflow_provider_huggingface.exceptions import (
    ConfigurationError,
    HuggingFaceError,
    InvalidTokenError,
    ServiceUnavailableError,
)
from airflow_provider_huggingface.triggers.huggingface import (
    HuggingFaceChatTrigger,
    error_event,
    error_from_event,
)
from tests.fakes.hf_api import Fault

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.fakes.hf_api import Recorded

TOKEN = "hf_triggertestcanary000001"
CLASSPATH = "airflow_provider_huggingface.triggers.huggingface.HuggingFaceChatTrigger"


@pytest.fixture
def hook(fake_hf, make_hook):
    return make_hook(host=fake_hf.url, password=TOKEN, extra={"max_retries": 2})


def chat_trigger(hook, **arguments) -> HuggingFaceChatTrigger:
    """A trigger for a request built as the operator builds it in the worker."""
    arguments.setdefault("user_prompt", "Hello")
    request = hook.prepare_chat(**arguments)
    return HuggingFaceChatTrigger(
        hf_conn_id=hook.hf_conn_id,
        model=request.model,
        messages=request.messages,
        generation=request.generation,
    )


async def collect(trigger: HuggingFaceChatTrigger) -> list:
    return [event async for event in trigger.run()]


def run(trigger: HuggingFaceChatTrigger) -> dict:
    """The payload of the trigger's one and only event."""
    (event,) = asyncio.run(collect(trigger))
    json.dumps(event.payload)  # plain JSON, as the triggerer stores it
    return event.payload


def test_success_yields_the_result_of_the_sync_path(fake_hf, hook):
    fake_hf.reply = "Bonjour"
    trigger = chat_trigger(hook, system_prompt="Be brief.", model="org/model", max_tokens=20, stop="\n")
    payload = run(trigger)
    assert payload == {
        "status": "success",
        "result": {
            "text": "Bonjour",
            "model": "org/model",
            "finish_reason": "stop",
            "usage": payload["result"]["usage"],
        },
    }
    assert set(payload["result"]["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    (sent,) = fake_hf.chat_requests
    assert sent.token == TOKEN  # read from the connection by the trigger itself
    assert sent.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"},
    ]
    assert sent.body["max_tokens"] == 20
    assert sent.body["stop"] == ["\n"]


def test_json_response_format_adds_the_parsed_reply(fake_hf, hook):
    fake_hf.reply = '{"city": "Paris"}'
    payload = run(chat_trigger(hook, response_format={"type": "json_object"}))
    assert payload["result"]["json"] == {"city": "Paris"}
    assert fake_hf.chat_requests[0].body["response_format"]["type"] == "json_object"


def test_a_structured_reask_logs_the_line_of_the_sync_path(fake_hf, hook, capsys):
    fake_hf.reply = lambda body: '{"n": 3}' if len(body["messages"]) > 2 else "Sure! n is 3"

    def reask_lines() -> list[str]:
        out = capsys.readouterr().out.splitlines()
        return [line.split("] ", 1)[-1].split(" [")[0] for line in out if "Asking once more" in line]

    capsys.readouterr()
    assert hook.chat(user_prompt="Count", response_format={"type": "json_object"})["json"] == {"n": 3}
    sync = reask_lines()
    payload = run(chat_trigger(hook, user_prompt="Count", response_format={"type": "json_object"}))
    assert payload["result"]["json"] == {"n": 3}
    assert len(fake_hf.chat_requests) == 4  # two billed calls on each path
    assert len(sync) == 1
    assert reask_lines() == sync


def test_a_loading_model_is_waited_for_in_the_trigger(fake_hf, hook):
    fake_hf.enqueue(Fault.loading(estimated_time=0.05))
    payload = run(chat_trigger(hook))
    assert payload["status"] == "success"
    assert payload["result"]["text"] == "Hello from the fake"
    assert len(fake_hf.chat_requests) == 2


def test_a_rejected_token_is_an_error_event_that_rebuilds_the_permanent_error(fake_hf, hook):
    fake_hf.valid_tokens = {"hf_someoneelse"}
    payload = run(chat_trigger(hook))
    assert payload["status"] == "error"
    assert payload["error_class"] == "InvalidTokenError"
    assert payload["status_code"] == 401
    assert "Invalid API key" in payload["message"]
    assert "https://huggingface.co/settings/tokens" in payload["message"]
    assert TOKEN not in json.dumps(payload)
    assert len(fake_hf.chat_requests) == 1  # permanent: not retried
    error = error_from_event(payload)
    assert type(error) is InvalidTokenError
    assert isinstance(error, AirflowFailException)  # no Airflow retries either
    assert str(error) == payload["message"]
    assert error.status_code == 401


def test_retries_exhausted_give_the_transient_error(fake_hf, hook):
    fake_hf.enqueue(*[Fault.server_error(503)] * 3)
    payload = run(chat_trigger(hook))
    assert payload["error_class"] == "ServiceUnavailableError"
    assert payload["status_code"] == 503
    assert len(fake_hf.chat_requests) == 3  # 1 + max_retries
    error = error_from_event(payload)
    assert type(error) is ServiceUnavailableError
    assert not isinstance(error, AirflowFailException)


def test_a_missing_connection_is_an_error_event_not_a_crash(fake_hf):
    trigger = HuggingFaceChatTrigger(
        hf_conn_id="hf_nowhere", model=None, messages=[{"role": "user", "content": "Hi"}], generation={}
    )
    payload = run(trigger)
    assert payload["status"] == "error"
    assert "There is no connection 'hf_nowhere'" in payload["message"]
    assert "Admin > Connections" in payload["message"]
    assert type(error_from_event(payload)) is ConfigurationError  # as in the worker: fails for good
    assert fake_hf.chat_requests == []


def test_a_connection_broken_after_deferral_fails_before_any_request(fake_hf, hook, make_hook):
    trigger = chat_trigger(hook)
    make_hook(password="not-a-token")  # the same conn id, now on the router with a wrong token
    payload = run(trigger)
    assert payload["error_class"] == "ConfigurationError"
    assert "does not start with hf_" in payload["message"]
    assert isinstance(error_from_event(payload), ConfigurationError)
    assert fake_hf.chat_requests == []


def test_serialize_round_trips_and_holds_no_token(hook):
    from airflow.models.trigger import Trigger

    trigger = chat_trigger(hook, system_prompt="Sys", max_tokens=7, response_format={"type": "json_object"})
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    assert set(kwargs) == {
        "hf_conn_id",
        "model",
        "messages",
        "generation",
        "fallback_models",
        "max_calls",
        "max_total_tokens",
        "reader",
        "carry",
    }
    assert kwargs["generation"] == {"max_tokens": 7, "response_format": {"type": "json_object"}}
    assert TOKEN not in json.dumps(kwargs)
    # As Airflow stores them (encrypted in the trigger table) and the triggerer reads them back.
    stored = Trigger.from_object(trigger)
    assert TOKEN not in stored.encrypted_kwargs
    module, _, name = stored.classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**stored.kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


@pytest.mark.parametrize(
    "cls_name", ["InvalidTokenError", "ModelNotFoundError", "RateLimitError", "StructuredOutputError"]
)
def test_error_events_rebuild_the_same_class(cls_name):
    from airflow_provider_huggingface import exceptions as errors

    cls = getattr(errors, cls_name)
    original = cls("where: what to do", status_code=418, request_id="r-1", server_message="said")
    rebuilt = error_from_event(json.loads(json.dumps(error_event(original))))
    assert type(rebuilt) is cls
    assert (str(rebuilt), rebuilt.status_code, rebuilt.request_id, rebuilt.server_message) == (
        "where: what to do",
        418,
        "r-1",
        "said",
    )


def test_an_unknown_error_class_is_not_imported():
    event = {"status": "error", "error_class": "SystemExit", "message": "boom", "status_code": None}
    error = error_from_event(event)
    assert type(error) is HuggingFaceError
    assert str(error) == "boom"


async def run_with_probe(
    trigger: HuggingFaceChatTrigger, requests: Callable[[], list[Recorded]]
) -> tuple[list, Counter]:
    """Run the trigger beside a probe that wakes every 5 ms and notes what the fake is doing.

    Returns the events and, per state of the exchange, how many times the probe woke in it:
    ``("in flight", n)`` while the fake holds request n of ``requests()``, ``("waiting", n)`` after
    it answered it.
    """
    done = asyncio.Event()
    seen: Counter = Counter()

    async def probe() -> None:
        while not done.is_set():
            await asyncio.sleep(0.005)
            if current := requests():
                state = "in flight" if current[-1].status is None else "waiting"
                seen[state, len(current)] += 1

    probing = asyncio.create_task(probe())
    try:
        events = await collect(trigger)
    finally:
        done.set()
        await probing
    return events, seen


def test_the_event_loop_is_never_blocked(fake_hf, hook):
    # A correctness check, not a speed goal. Each wait (the server's latency, the retry wait after a
    # 503) lasts 0.3 s, about 60 probe wake-ups; a blocking call there (sync HTTP, time.sleep)
    # would leave the probe none, or one at the edge. Counting wake-ups rather than timing the
    # longest gap keeps this stable on a loaded machine, and one-off costs (the client's first
    # import and connection) fall outside these windows.
    fake_hf.latency = 0.3
    fake_hf.enqueue(Fault.loading(estimated_time=0.3))
    events, seen = asyncio.run(run_with_probe(chat_trigger(hook), lambda: fake_hf.chat_requests))
    assert [e.payload["status"] for e in events] == ["success"]
    assert len(fake_hf.chat_requests) == 2
    for state in (("in flight", 1), ("waiting", 1), ("in flight", 2)):
        assert seen[state] >= 10, (state, seen)


def test_the_connection_is_never_read_on_the_event_loop_thread(fake_hf, hook, monkeypatch):
    # In a triggerer a read on the loop's thread is a blocking round trip to the supervisor:
    # refused on Airflow 3.0, DeadlockImminentError on 3.2+ while another request is in flight.
    trigger = chat_trigger(hook)
    lookup = type(hook).get_connection
    threads: list[int] = []

    def recording(cls, conn_id):
        threads.append(threading.get_ident())
        return lookup(conn_id)

    monkeypatch.setattr(type(hook), "get_connection", classmethod(recording))
    assert run(trigger)["status"] == "success"  # asyncio.run: the loop runs on this thread
    assert threads, "the trigger never read its connection"
    assert threading.get_ident() not in threads


def test_a_named_provider_does_not_block_the_loop_on_its_hub_lookup(hub_redirect, make_hook):
    hook = make_hook(password=TOKEN, extra={"provider": "hf-inference"})
    hub_redirect.enqueue(Fault.delay(0.3).at("/api/models"))

    def hub_lookups() -> list[Recorded]:
        return [r for r in hub_redirect.requests if r.path.startswith("/api/models")]

    trigger = chat_trigger(hook, model="mistralai/Mistral-7B-Instruct-v0.3")
    events, seen = asyncio.run(run_with_probe(trigger, hub_lookups))
    assert events[0].payload["status"] == "success"
    assert hub_lookups()
    assert seen["in flight", 1] >= 10, seen


def test_the_trigger_drops_its_request_lines_only(fake_hf, hook, caplog, capsys):
    # In a triggerer the loop also runs other providers' triggers: their httpx lines must stay.
    caplog.set_level(logging.INFO)
    for name in ("httpx", "httpx2"):
        caplog.set_level(logging.INFO, logger=name)
    fake_hf.latency = 0.2  # the other task's request is on the wire beside the trigger's
    fake_hf.enqueue(Fault.server_error(503))

    async def theirs() -> None:
        from huggingface_hub.utils import get_async_session

        async with get_async_session() as session:
            await session.get(f"{fake_hf.url}/health?who=theirs")

    async def main() -> list:
        events, _ = await asyncio.gather(collect(chat_trigger(hook)), theirs())
        return events

    capsys.readouterr()
    (event,) = asyncio.run(main())
    assert event.payload["status"] == "success"
    assert len(fake_hf.chat_requests) == 2
    # httpx's records go through the standard library's logging; the hook's through Airflow's task log.
    requests = [r.getMessage() for r in caplog.records if "HTTP Request" in r.msg]
    assert len(requests) == 1
    assert "/health?who=theirs" in requests[0]
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if "HTTP Request" in line and "who=theirs" not in line] == []
    # The hook's lines (Airflow's task logger writes them to stdout) are not the HTTP libraries'.
    assert [line for line in out if "Retry 1/2" in line and "HTTP 503" in line and "warning" in line.lower()]
    assert [line for line in out if "Chat: " in line and "finish_reason=stop" in line]
