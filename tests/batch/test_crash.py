"""A batch task killed with SIGKILL halfway, under Airflow's own scheduler, then retried by it.

Airflow's API server, scheduler (LocalExecutor), DAG processor and triggerer run on a fresh SQLite
DB with ``tests/batch/dags/`` as their DAGs folder. The task's own process is killed once half the
inputs have been asked; the supervisor reports the death, the scheduler retries the task instance,
and the retry resumes from the file of replies: the fake's request log shows each input answered at
most once, except those in flight at the kill (at most ``max_concurrency``).
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.fakes.hf_api import FakeHF
from tests.processes import (
    AirflowStack,
    airflow_executable,
    free_port,
    migrate_db,
    stack_env,
    start_core,
    stop_processes,
    wait_for_pid,
    wait_until_healthy,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.scheduler

DAGS = Path(__file__).resolve().parent / "dags"
DAG_ID = "hf_batch_crash"
TOKEN = "hf_crashtestConnectionToken1"
ITEMS = 400
IN_FLIGHT = 8  # the DAG's max_concurrency


@pytest.fixture(scope="module")
def crash_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    airflow = airflow_executable("scheduler")
    home = tmp_path_factory.mktemp("airflow-crash-home")
    fake = FakeHF().start()
    api_port = free_port()
    env = stack_env(home, fake.url, api_port, dags_folder=DAGS, token=TOKEN)
    stack = AirflowStack(url=f"http://127.0.0.1:{api_port}", home=home, fake=fake)
    try:
        migrate_db(airflow, env, home)
        start_core(stack, airflow, env, api_port)
        wait_until_healthy(stack)
        yield stack
    finally:
        stop_processes(list(reversed(stack.processes.values())))
        fake.stop()


def test_a_batch_killed_halfway_resumes_and_pays_each_reply_once(crash_stack, tmp_path):
    stack = crash_stack
    stack.fake.latency = 0.1  # 400 calls, 8 at a time: about 5 s, time enough to kill it halfway
    stack.fake.reply = lambda body: f"re: {body['messages'][-1]['content']}"
    questions = [f"question {i}" for i in range(ITEMS)]
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({"q": q}) + "\n" for q in questions))
    pidfile = tmp_path / "pid"
    stack.wait_for_dag(DAG_ID)
    run_id = f"crash_{uuid.uuid4().hex[:8]}"
    conf = {"inputs": inputs.as_uri(), "out": (tmp_path / "out").as_uri(), "pidfile": str(pidfile)}

    stack.trigger(DAG_ID, run_id, conf=conf)
    first_pid = wait_for_pid(pidfile, stack)
    stack.fake.wait_for_requests(ITEMS // 2, timeout=120)
    os.kill(first_pid, signal.SIGKILL)
    pidfile.write_text("")
    run = stack.wait_for_run(DAG_ID, run_id, timeout=240)

    assert run["state"] == "success", f"{stack.task_states(DAG_ID, run_id)}\n{stack.diagnostics()}"
    assert int(pidfile.read_text()) != first_pid  # the retry ran in a process of its own
    answered = Counter(r.body["messages"][-1]["content"] for r in stack.fake.chat_requests if r.status == 200)
    assert set(answered) == set(questions)
    twice = {q: n for q, n in answered.items() if n > 1}
    # Only calls in flight when the process died were paid twice.
    assert len(twice) <= IN_FLIGHT, twice
    assert set(twice.values()) <= {2}
    summary = stack.xcom(DAG_ID, run_id, "batch")
    assert (summary["succeeded"], summary["failed"], summary["not_sent"]) == (ITEMS, 0, 0)
    assert ITEMS // 2 - IN_FLIGHT <= summary["reused"] < ITEMS
    lines = [
        json.loads(line)
        for line in Path(summary["output_path"].removeprefix("file://")).read_text().splitlines()
    ]
    assert sorted(line["index"] for line in lines) == list(range(ITEMS))
    assert all(line["text"] == f"re: {questions[line['index']]}" for line in lines)
    print(
        f"crash test: task process killed after {ITEMS // 2} of {ITEMS} calls were asked; the retry reused "
        f"{summary['reused']} answers and sent {ITEMS - summary['reused']}; paid twice: {len(twice)} "
        f"(the in-flight window is {IN_FLIGHT})"
    )
    log = stack.task_log(DAG_ID, run_id, "batch", try_number=2)
    assert f"Resuming: {summary['reused']} of {ITEMS} items were answered by an earlier try" in log
