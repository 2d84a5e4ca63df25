"""Soak: 500 chat calls through a fake that misbehaves on about a fifth of its requests.

300 calls go through ``HuggingFaceHook.chat`` from 8 threads sharing one hook, 100 through the operator
(one ``dag.test()`` run of tests/dags/hf_soak.py, a task mapped over the calls) and 100 through the batch
operator (one ``dag.test()`` run of its one batch task, 8 calls at once under its adaptive limit). Every
call carries a unique id that the fake echoes. The proof: each call ends exactly once, either with its
own reply, whole (a retried stream must not repeat text) or with a classified ``HuggingFaceError``
subclass; each call makes exactly the requests its planned faults call for, never more than
``1 + max_retries``; the failures are exactly the calls whose every allowed attempt the plan faulted.

Faults are drawn per (call id, attempt) from a seeded generator, so a call meets the same faults whatever
the thread interleaving. A few "doomed" calls meet the same fault on every attempt: they show that
retries run out, with the right class and the right number of requests.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_huggingface import exceptions as errors
from tests.airflow_internals import dag_bag
from tests.fakes.hf_api import Fault

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.fakes.hf_api import FakeHF

pytestmark = pytest.mark.soak

SEED = 20240611
HOOK_CALLS = 300
OPERATOR_CALLS = 100
BATCH_CALLS = 100
PATHS = ("hook", "operator", "batch")
THREADS = 8
MAX_RETRIES = 3
FAULT_RATE = 0.2
# Every DOOM_EVERY-th call (from DOOM_FIRST) meets one fault on every attempt, kinds taken in turn.
DOOM_FIRST, DOOM_EVERY = 7, 37
CONN_ID = "hf_soak"
DAG_FILE = Path(__file__).resolve().parents[1] / "dags" / "hf_soak.py"
CONNECTION_EXTRA = {"max_retries": MAX_RETRIES, "backoff": 0.01, "timeout": 0.3}
_ID = re.compile(r"\[(soak-\d{3})\]")

_CUT_ERRORS = (errors.EndpointUnreachableError, errors.MalformedResponseError)


@dataclass(frozen=True)
class Kind:
    """One kind of fault: how the fake misbehaves and what the caller must see when it never stops."""

    make: Callable[[], Fault]
    weight: int
    expected: tuple[type[errors.HuggingFaceError], ...]


KINDS: dict[str, Kind] = {
    "429 Retry-After: 0": Kind(lambda: Fault.rate_limited(retry_after=0), 2, (errors.RateLimitError,)),
    "429 Retry-After: 0.05": Kind(lambda: Fault.rate_limited(retry_after=0.05), 2, (errors.RateLimitError,)),
    "429 without Retry-After": Kind(Fault.rate_limited, 2, (errors.RateLimitError,)),
    "503 loading": Kind(lambda: Fault.loading(estimated_time=0.05), 2, (errors.ServiceUnavailableError,)),
    "500": Kind(lambda: Fault.server_error(500), 1, (errors.ServiceUnavailableError,)),
    "502": Kind(lambda: Fault.server_error(502), 1, (errors.ServiceUnavailableError,)),
    "504": Kind(lambda: Fault.server_error(504), 1, (errors.ServiceUnavailableError,)),
    "connection reset": Kind(Fault.reset, 2, (errors.EndpointUnreachableError,)),
    "hang past timeout": Kind(lambda: Fault.hang(1), 1, (errors.ResponseTimeoutError,)),
    "malformed JSON": Kind(Fault.malformed_json, 2, (errors.MalformedResponseError,)),
    # Streamed: the body stops mid-event stream; not streamed: a body shorter than its Content-Length.
    "stream cut halfway": Kind(lambda: Fault.cut_stream(after_chunks=2), 2, _CUT_ERRORS),
    # Only for doomed calls: a permanent error must not be retried at all. No fault here may be one that
    # every call would meet (401, 402, 403, 404): it stops a batch and fails its task by design.
    "400 bad request": Kind(
        lambda: Fault.status(400, {"error": "Input validation error"}), 0, (errors.InvalidRequestError,)
    ),
}
DOOM_KINDS = [
    "503 loading",
    "429 without Retry-After",
    "connection reset",
    "hang past timeout",
    "400 bad request",
    "malformed JSON",
    "stream cut halfway",
    "502",
]
_RANDOM_LABELS = [label for label, kind in KINDS.items() if kind.weight]
_RANDOM_WEIGHTS = [KINDS[label].weight for label in _RANDOM_LABELS]


@dataclass(frozen=True)
class Call:
    index: int
    id: str
    stream: bool
    via: str

    @property
    def prompt(self) -> str:
        return f"[{self.id}] In one sentence, why do retries need a limit?"

    @property
    def reply(self) -> str:
        return reply_for(self.id)


def reply_for(call_id: str) -> str:
    # Several words, so a stream has several chunks and a cut one ends halfway.
    return f"Answer to {call_id}: a retry without a limit turns an outage into a flood."


def via_of(index: int) -> str:
    if index < HOOK_CALLS:
        return "hook"
    return "operator" if index < HOOK_CALLS + OPERATOR_CALLS else "batch"


def call_id_of(body: Any) -> str:
    match = _ID.search(json.dumps(body))
    assert match, f"a chat request without a call id: {body!r}"
    return match.group(1)


def doomed_kind(index: int) -> str | None:
    if index >= DOOM_FIRST and (index - DOOM_FIRST) % DOOM_EVERY == 0:
        return DOOM_KINDS[(index - DOOM_FIRST) // DOOM_EVERY % len(DOOM_KINDS)]
    return None


def planned_fault(call: Call, attempt: int) -> str | None:
    """The fault (its label) the fake gives a call's attempt; attempts are counted from 0."""
    doomed = doomed_kind(call.index)
    if doomed is not None:
        return doomed
    rng = random.Random(f"{SEED}:{call.id}:{attempt}")
    if rng.random() >= FAULT_RATE:
        return None
    return rng.choices(_RANDOM_LABELS, _RANDOM_WEIGHTS)[0]


def predict(call: Call) -> tuple[int, str | None]:
    """How many requests a call makes, and the fault it ends with (None: it succeeds).

    It stops at its first clean attempt, at a permanent error, or after ``1 + max_retries`` requests.
    """
    for attempt in range(1 + MAX_RETRIES):
        label = planned_fault(call, attempt)
        if label is None:
            return attempt + 1, None
        if not errors_for(label)[0].retryable:
            return attempt + 1, label
    return 1 + MAX_RETRIES, label


def errors_for(label: str) -> tuple[type[errors.HuggingFaceError], ...]:
    return KINDS[label].expected


class FaultPlan:
    """``fake.fault_plan``: counts each call's attempts and answers the planned fault, keeping a log."""

    def __init__(self, calls: dict[str, Call]) -> None:
        self.calls = calls
        self.lock = threading.Lock()
        self.attempts: Counter[str] = Counter()
        self.injected: list[tuple[str, str]] = []

    def __call__(self, _n: int, body: Any) -> Fault | None:
        call_id = call_id_of(body)
        with self.lock:
            attempt = self.attempts[call_id]
            self.attempts[call_id] += 1
        label = planned_fault(self.calls[call_id], attempt)
        if label is None:
            return None
        with self.lock:
            self.injected.append((call_id, label))
        return KINDS[label].make()


@dataclass
class Outcome:
    call: Call
    result: dict[str, Any] | None = None
    error: str | None = None
    error_class: type[BaseException] | None = None
    message: str = ""
    status_code: int | None = None  # only the batch's XCom records it


def run_hook_calls(hook: Any, calls: list[Call]) -> list[Outcome]:
    def one(call: Call) -> Outcome:
        try:
            return Outcome(call, result=hook.chat(user_prompt=call.prompt, stream=call.stream))
        except Exception as exc:  # kept, not raised: an unclassified error must show in the checks
            return Outcome(call, error=type(exc).__name__, error_class=type(exc), message=str(exc))

    with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="soak") as pool:
        return list(pool.map(one, calls))


def run_operator_calls(dag: Any, calls: list[Call], ledger: Path) -> tuple[list[Outcome], dict[str, int]]:
    """One dag.test() run mapping the chat operator over ``calls``; outcomes by map index."""
    conf = {"calls": [{"user_prompt": c.prompt, "stream": c.stream} for c in calls]}
    dag_run = dag.test(run_conf=conf)
    states: Counter[str] = Counter()
    failures: dict[int, list[dict[str, Any]]] = {}
    for line in ledger.read_text().splitlines() if ledger.exists() else []:
        entry = json.loads(line)
        failures.setdefault(entry["map_index"], []).append(entry)
    outcomes = []
    seen: Counter[int] = Counter()
    for ti in dag_run.get_task_instances():
        if ti.task_id != "ask":
            assert str(ti.state) == "success", f"{ti.task_id} ended {ti.state}"
            continue
        seen[ti.map_index] += 1
        states[str(ti.state)] += 1
        call = calls[ti.map_index]
        entries = failures.get(ti.map_index, [])
        if str(ti.state) == "success":
            assert not entries, f"{call.id} succeeded but was also recorded as failed: {entries}"
            outcomes.append(Outcome(call, result=ti.xcom_pull(task_ids="ask", map_indexes=ti.map_index)))
        else:
            assert len(entries) == 1, f"{call.id} ended {ti.state} with failure records {entries}"
            entry = entries[0]
            error_class = (
                getattr(errors, entry["error"], None) if entry["module"] == errors.__name__ else None
            )
            outcomes.append(
                Outcome(call, error=entry["error"], error_class=error_class, message=entry["message"])
            )
    assert sorted(seen) == list(range(len(calls))), seen
    assert set(seen.values()) == {1}, seen
    return outcomes, dict(states)


def run_batch_calls(dag: Any, calls: list[Call]) -> tuple[list[Outcome], dict[str, Any]]:
    """One dag.test() run of the batch task over ``calls``; outcomes from its XCom, in input order."""
    dag_run = dag.test(run_conf={"items": [{"id": c.id} for c in calls]})
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == "batch"]
    # max_failed_fraction=1.0 and no fault every call would meet: transient failures must not fail it.
    assert str(ti.state) == "success", f"the batch task ended {ti.state}"
    summary = ti.xcom_pull(task_ids="batch")
    results = summary["results"]
    assert len(results) == len(calls), f"{len(results)} results for {len(calls)} inputs"
    outcomes = []
    for index, (call, result) in enumerate(zip(calls, results, strict=True)):
        if "error" not in result:
            outcomes.append(Outcome(call, result=result))
            continue
        assert result["index"] == index, f"{call.id}: a failure at position {index} says {result['index']}"
        error = result["error"]
        error_class = getattr(errors, error["class"], None)
        if not (isinstance(error_class, type) and issubclass(error_class, BaseException)):
            error_class = None
        outcomes.append(
            Outcome(
                call,
                error=error["class"],
                error_class=error_class,
                message=error["message"],
                status_code=error["status_code"],
            )
        )
    return outcomes, summary


def test_soak_every_call_ends_once_and_classified(
    fake_hf: FakeHF, make_hook, airflow_db, monkeypatch, tmp_path, capsys
) -> None:
    calls = []
    for i in range(HOOK_CALLS + OPERATOR_CALLS + BATCH_CALLS):
        via = via_of(i)
        # The batch operator does not stream: its calls ask for whole replies.
        calls.append(Call(i, f"soak-{i:03d}", stream=i % 4 == 1 and via != "batch", via=via))
    by_id = {c.id: c for c in calls}
    plan = FaultPlan(by_id)
    fake_hf.reply = lambda body: reply_for(call_id_of(body))
    fake_hf.fault_plan = plan
    hook = make_hook(CONN_ID, host=fake_hf.url, password="hf_soak_token", extra=dict(CONNECTION_EXTRA))
    ledger = tmp_path / "operator-failures.jsonl"
    monkeypatch.setenv("HF_SOAK_OUTCOMES", str(ledger))
    bag = dag_bag(DAG_FILE)
    assert not bag.import_errors, bag.import_errors
    batch_dag = bag.dags["hf_soak_batch"]

    seconds: dict[str, float] = {}
    started = time.monotonic()
    hook_outcomes = run_hook_calls(hook, [c for c in calls if c.via == "hook"])
    seconds["hook"] = time.monotonic() - started
    op_outcomes, op_states = run_operator_calls(
        bag.dags["hf_soak"], [c for c in calls if c.via == "operator"], ledger
    )
    seconds["operator"] = time.monotonic() - started - seconds["hook"]
    capsys.readouterr()  # the batch's own log lines only, below
    batch_outcomes, summary = run_batch_calls(batch_dag, [c for c in calls if c.via == "batch"])
    seconds["batch"] = time.monotonic() - started - seconds["hook"] - seconds["operator"]
    elapsed = time.monotonic() - started
    finished = re.search(r"Batch finished: (.*?lowered \d+ time\(s\))", capsys.readouterr().out)
    batch_line = (
        f"batch task: max_concurrency={batch_dag.get_task('batch').max_concurrency}; "
        f"{finished.group(1) if finished else 'no Batch finished line in its log'}"
    )

    outcomes = hook_outcomes + op_outcomes + batch_outcomes
    requests = fake_hf.chat_requests
    per_call = Counter(call_id_of(r.body) for r in requests)
    trace: dict[str, list[str]] = {}
    for r in requests:
        # What the fake did with each request, to explain a count that differs from the plan.
        trace.setdefault(call_id_of(r.body), []).append(f"{r.fault.kind if r.fault else 'clean'}/{r.status}")
    report = table(calls, outcomes, plan, per_call, op_states, batch_line, seconds, elapsed)
    with capsys.disabled():
        print("\n" + report)

    # Each call ended exactly once.
    ended = Counter(o.call.id for o in outcomes)
    assert set(ended) == set(by_id), report
    assert set(ended.values()) == {1}, report
    # No call was skipped: the fake saw each one, and no more than the policy allows.
    assert set(per_call) == set(by_id), report
    assert max(per_call.values()) <= 1 + MAX_RETRIES, report
    assert not fake_hf.errors, fake_hf.errors
    # Each request asked its own call's question (the batch renders one prompt per input).
    wrong_prompts = [
        r.body for r in requests if r.body["messages"][-1]["content"] != by_id[call_id_of(r.body)].prompt
    ]
    assert not wrong_prompts, wrong_prompts[:3]

    problems = []
    for o in outcomes:
        n = per_call[o.call.id]
        want_requests, expected = predict(o.call)
        # Exactly as many requests as the plan allows: a retry was neither skipped nor added.
        if n != want_requests:
            problems.append(
                f"{o.call.id}: {n} requests {trace.get(o.call.id)}, the fault plan allows {want_requests}"
            )
        if o.result is not None:
            # Its own reply, whole: a stream retried after a cut must not repeat what it had received.
            if o.result.get("text") != o.call.reply:
                problems.append(f"{o.call.id}: wrong text {o.result.get('text')!r}")
            if expected is not None:
                problems.append(f"{o.call.id}: succeeded though every attempt was planned to fail")
            continue
        if o.error_class is None or not issubclass(o.error_class, errors.HuggingFaceError):
            problems.append(f"{o.call.id}: unclassified {o.error}: {o.message[:300]}")
            continue
        if o.error_class is errors.HuggingFaceError:
            problems.append(f"{o.call.id}: the mapper's catch-all HuggingFaceError: {o.message[:300]}")
        if expected is None:
            problems.append(f"{o.call.id}: failed ({o.error}) though one of its attempts was clean")
            continue
        if not issubclass(o.error_class, errors_for(expected)):
            problems.append(f"{o.call.id}: ended with {o.error} after '{expected}': {o.message[:300]}")
        # The batch's XCom keeps the HTTP status of a failure that had one.
        if o.call.via == "batch" and o.status_code != http_status(expected):
            problems.append(f"{o.call.id}: status_code {o.status_code} after '{expected}'")
    assert not problems, "\n".join(problems[:30]) + "\n\n" + report

    # The batch's own tally agrees with its results.
    batch_ok = [o for o in batch_outcomes if o.result is not None]
    usage = Counter()
    for o in batch_ok:
        usage.update(o.result["usage"])
    assert (summary["succeeded"], summary["failed"], summary["not_sent"]) == (
        len(batch_ok),
        BATCH_CALLS - len(batch_ok),
        0,
    ), report
    assert summary["usage"] == {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    assert summary["usage"]["total_tokens"] > 0

    # The mix really happened, on every path, and retries did the saving.
    injected = Counter(label for _id, label in plan.injected)
    assert set(_RANDOM_LABELS) <= set(injected), injected
    assert {by_id[i].via for i, _label in plan.injected} == set(PATHS)
    assert sum(1 for o in outcomes if o.result is not None and per_call[o.call.id] > 1) > 50, report
    assert sum(1 for o in batch_ok if per_call[o.call.id] > 1) > 5, report


def http_status(label: str) -> int | None:
    """The HTTP status a fault answers with, from its label ("503 loading"); None for a broken transport."""
    match = re.match(r"(\d{3})\b", label)
    return int(match.group(1)) if match else None


def table(
    calls: list[Call],
    outcomes: list[Outcome],
    plan: FaultPlan,
    per_call: Counter[str],
    op_states: dict[str, int],
    batch_line: str,
    seconds: dict[str, float],
    elapsed: float,
) -> str:
    """The soak's figures, by path and in total."""
    via = {c.id: c.via for c in calls}

    def row(name: str, values: dict[str, int]) -> str:
        cells = [f"{values.get(p, 0):>9}" for p in PATHS]
        return f"  {name:<34}{''.join(cells)}{sum(values.get(p, 0) for p in PATHS):>9}"

    def count(items: list[str]) -> dict[str, int]:
        return dict(Counter(via[i] for i in items))

    ids = [c.id for c in calls]
    requests = {p: sum(n for i, n in per_call.items() if via[i] == p) for p in PATHS}
    timing = ", ".join(f"{p} {seconds[p]:.1f} s" for p in PATHS)
    lines = [
        f"Soak: {len(calls)} chat calls, seed {SEED}, fault rate {FAULT_RATE:.0%} per request, "
        f"max_retries={MAX_RETRIES}, timeout={CONNECTION_EXTRA['timeout']} s; "
        f"{timing} (hook: {THREADS} threads), total {elapsed:.1f} s",
        f"  {'':<34}{''.join(f'{p:>9}' for p in PATHS)}{'total':>9}",
        row("calls", count(ids)),
        row("  streamed", count([c.id for c in calls if c.stream])),
        row("requests", requests),
        row("retries", {p: requests[p] - count(ids).get(p, 0) for p in PATHS}),
        row("faults injected", count([i for i, _label in plan.injected])),
    ]
    for label in KINDS:
        hits = [i for i, lab in plan.injected if lab == label]
        if hits:
            lines.append(row(f"  {label}", count(hits)))
    lines.append(row("successes", count([o.call.id for o in outcomes if o.result is not None])))
    retried = [o.call.id for o in outcomes if o.result is not None and per_call[o.call.id] > 1]
    lines.append(row("  after at least one retry", count(retried)))
    failed = [o for o in outcomes if o.result is None]
    lines.append(row("failures", count([o.call.id for o in failed])))
    for name in sorted({o.error or "?" for o in failed}):
        lines.append(row(f"  {name}", count([o.call.id for o in failed if o.error == name])))
    most = {p: max((n for i, n in per_call.items() if via[i] == p), default=0) for p in PATHS}
    lines.append(
        f"  {'max requests per call':<34}{''.join(f'{most[p]:>9}' for p in PATHS)}{max(most.values()):>9}"
        f"   (limit 1 + max_retries = {1 + MAX_RETRIES})"
    )
    lines.append(f"  operator task states: {op_states}")
    lines.append(f"  {batch_line}")
    return "\n".join(lines)
