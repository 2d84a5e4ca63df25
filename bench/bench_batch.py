"""HuggingFaceBatchChatOperator: throughput against the ideal, against mapped tasks, and under a rate limit.

All on the local fake (in this process), latency 0.1 s per chat call:

- 1,000 prompts through the batch operator at max_concurrency=32, its ``execute`` called directly and
  as a task of a ``dag.test()`` run, against the ideal 1,000 x 0.1 s / 32 = 3.1 s (goal: at most 1.25x);
- the same prompts as dynamically mapped ``HuggingFaceChatOperator`` tasks under ``dag.test()``
  (by default 100 of them, extrapolated to 1,000: they run one after the other);
- a fake that admits 10 chat calls per second and answers 429 beyond: the achieved throughput
  (goal: at least 85% of 10/s) and the share of calls answered 429 (goal: under 5%), which the
  adaptive limit must keep low by learning that about one call in flight is what the server allows;
- 10,000 prompts at 0.1 s latency with max_concurrency=64, against the ideal 10,000 x 0.1 s / 64 =
  15.6 s (goal: at most 1.15x), the fake in a process of its own;
- memory: 1,000, 10,000 and 100,000 inputs read from a JSON Lines file, replies written to a file
  (output_path), through a fake with no latency in a process of its own: the peak RSS of the task's
  process (a fresh ``dag.test()`` process per size; goal: growth from 1k to 100k under 50 MB).

The bench writes its DAG file to a throwaway folder and runs Airflow in a throwaway home.

Run: python bench/bench_batch.py [--mapped 100] [--rate-prompts 1000] [--big-prompts 10000]
     [--memory-sizes 1000,10000,100000] [--only memory|big|base]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from _common import fake_process, isolated_airflow_env, peak_rss_mb, report, reset_peak_rss

TOKEN = "hf_benchmarktoken000000001"
LATENCY = 0.1
PROMPTS = 1000
CONCURRENCY = 32
RATE = 10
LEARNT = 10  # seconds

DAG_FILE = """
from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.batch import HuggingFaceBatchChatOperator
from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator


@task
def prompts(dag_run=None) -> list:
    return [f"Prompt number {i}: say something short." for i in range(dag_run.conf["n"])]


with DAG(dag_id="bench_batch", schedule=None):
    HuggingFaceBatchChatOperator(
        task_id="batch",
        hf_conn_id="hf_bench",
        inputs=prompts(),
        user_prompt="{{item}}",
        max_concurrency=CONCURRENCY,
        validate_model=False,
    )

with DAG(dag_id="bench_batch_file", schedule=None):
    HuggingFaceBatchChatOperator(
        task_id="batch",
        hf_conn_id="hf_bench",
        inputs="{{ dag_run.conf['inputs'] }}",
        user_prompt="{{item.q}}",
        output_path="{{ dag_run.conf['out'] }}",
        max_concurrency=16,
        validate_model=False,
    )

with DAG(dag_id="bench_mapped", schedule=None):
    HuggingFaceChatOperator.partial(task_id="chat", hf_conn_id="hf_bench", validate_model=False).expand(
        user_prompt=prompts()
    )
"""


def airflow_env() -> Path:
    """A throwaway Airflow home whose one DAG bundle is a folder holding the bench's DAGs."""
    isolated_airflow_env()
    home = Path(os.environ["AIRFLOW_HOME"])
    dags = home / "dags"
    dags.mkdir()
    (dags / "bench_batch_dags.py").write_text(DAG_FILE.replace("CONCURRENCY", str(CONCURRENCY)))
    bundle = {"name": "bench", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle"}
    os.environ.update(
        {
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
                [{**bundle, "kwargs": {"path": str(dags)}}]
            ),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__FERNET_KEY": "SGbR3ywB6A1Jx0OEGxV2w9yJDRe0L-5fMIvhe8jN7RM=",
        }
    )
    return dags


def use_fake(url: str, **extra: object) -> None:
    conn = {"conn_type": "huggingface", "host": url, "password": TOKEN, "extra": extra}
    os.environ["AIRFLOW_CONN_HF_BENCH"] = json.dumps(conn)


@contextlib.contextmanager
def quiet():
    """Task logs of dag.test() go to stdout: send them to a file, and show its end on failure."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as log:
        os.dup2(log.fileno(), 1)
        try:
            yield
        except BaseException:
            os.dup2(saved, 1)
            log.seek(0)
            sys.stdout.write(log.read()[-5000:].decode(errors="replace"))
            raise
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def stub_context() -> dict:
    ti = SimpleNamespace(dag_id="bench", task_id="batch", xcom_pull=lambda task_ids: None)
    return {"ti": ti, "dag": SimpleNamespace(task_ids=["batch"]), "params": {}, "run_id": "bench"}


def run_execute(n: int, concurrency: int) -> tuple[float, dict]:
    from airflow_provider_huggingface.operators.batch import HuggingFaceBatchChatOperator

    operator = HuggingFaceBatchChatOperator(
        task_id="batch",
        hf_conn_id="hf_bench",
        inputs=[f"Prompt number {i}: say something short." for i in range(n)],
        user_prompt="{{item}}",
        max_concurrency=concurrency,
        validate_model=False,
    )
    with quiet():
        started = time.perf_counter()
        summary = operator.execute(stub_context())
        seconds = time.perf_counter() - started
    assert summary["succeeded"] == n, {k: v for k, v in summary.items() if k != "results"}
    return seconds, summary


def run_dag_test(dag, n: int) -> tuple[float, dict[str, float]]:
    """Wall time of a dag.test() run, and each task's own duration (start to end) by task id."""
    with quiet():
        started = time.perf_counter()
        dag_run = dag.test(run_conf={"n": n})
        seconds = time.perf_counter() - started
    assert str(dag_run.state) == "success", dag_run.state
    durations: dict[str, float] = {}
    for ti in dag_run.get_task_instances():
        durations[ti.task_id] = durations.get(ti.task_id, 0.0) + (ti.end_date - ti.start_date).total_seconds()
    return seconds, durations


def rate_limited(fake, prompts: int) -> list[tuple[str, str]]:
    """The batch against a fake admitting RATE chat calls a second, 429 beyond."""
    fake.reset()
    fake.latency = LATENCY
    fake.rate_limit = RATE
    use_fake(fake.url, max_retries=20)  # every item through, however many 429s it meets
    seconds, _ = run_execute(prompts, CONCURRENCY)
    calls = fake.chat_requests
    throttled = sum(1 for r in calls if r.status == 429)
    throughput = prompts / seconds
    rows = [
        (f"rate limit {RATE}/s, {prompts} prompts, max_concurrency={CONCURRENCY}", f"{seconds:.1f} s"),
        (
            "  throughput (goal >= 85% of 10/s)",
            f"{throughput:.2f}/s = {throughput / RATE:.0%} (one call at a time, back to back: "
            f"{1 / (LATENCY + 0.005):.1f}/s)",
        ),
        ("  calls answered 429 (goal < 5%)", f"{throttled} of {len(calls)} = {throttled / len(calls):.1%}"),
    ]
    # Split at LEARNT seconds: learning the limit from 32 down to 1, then keeping it.
    start = calls[0].time
    for label, part in (
        (f"  first {LEARNT} s (learning)", [r for r in calls if r.time < start + LEARNT]),
        (f"  after {LEARNT} s (learnt)", [r for r in calls if r.time >= start + LEARNT]),
    ):
        if part:
            span = max(r.time for r in part) - min(r.time for r in part) or 1.0
            ok = sum(1 for r in part if r.status == 200)
            bad = sum(1 for r in part if r.status == 429)
            rows.append(
                (label, f"{ok / span:.2f}/s, {bad} of {len(part)} answered 429 = {bad / len(part):.1%}")
            )
    return rows


def peak_rss_child(n: int, data: Path, out: Path) -> None:
    """In a fresh process: one dag.test() run of the batch over n lines; prints the run's peak RSS."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    with quiet():
        db.resetdb()
    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["bench_batch_file"]
    # Forget the peak of the set-up (DB migration, parsing), so that the peak is the run's.
    reset_peak_rss()
    with quiet():
        dag_run = dag.test(run_conf={"inputs": data.as_uri(), "out": out.as_uri()})
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == "batch"]
    seconds = (ti.end_date - ti.start_date).total_seconds()
    summary = ti.xcom_pull(task_ids="batch")
    assert summary["succeeded"] == n, summary
    print(json.dumps({"peak_mb": peak_rss_mb(), "seconds": seconds, "xcom": summary}))


def memory(sizes: list[int]) -> list[tuple[str, str]]:
    """Peak RSS of the task's process for each size, inputs from a JSON Lines file."""
    work = Path(tempfile.mkdtemp(prefix="bench-batch-memory-"))
    rows = []
    peaks = {}
    with fake_process(0.0) as (url, counts):
        env = {**os.environ}
        env["AIRFLOW_CONN_HF_BENCH"] = json.dumps(
            {"conn_type": "huggingface", "host": url, "password": TOKEN, "extra": {"max_retries": 3}}
        )
        for n in sizes:
            data = work / f"in-{n}.jsonl"
            with data.open("w") as out:
                for i in range(n):
                    out.write(json.dumps({"q": f"Prompt number {i}: say something short.", "id": i}) + "\n")
            child = subprocess.run(
                [sys.executable, __file__, "--memory-child", str(n), str(data), str(work / f"out-{n}")],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if child.returncode != 0:
                raise RuntimeError(
                    f"the {n}-input run failed:\n{child.stdout[-3000:]}\n{child.stderr[-3000:]}"
                )
            result = json.loads(child.stdout.strip().splitlines()[-1])
            peaks[n] = result["peak_mb"]
            rows.append(
                (
                    f"  {n:,} inputs from a .jsonl file, replies to a file",
                    f"peak RSS {result['peak_mb']:.1f} MB; the task {result['seconds']:.0f} s "
                    f"({n / result['seconds']:.0f} calls/s); XCom {len(json.dumps(result['xcom']))} bytes",
                ),
            )
    growth = peaks[max(sizes)] - peaks[min(sizes)]
    rows.append((f"  growth {min(sizes):,} -> {max(sizes):,} (goal < 50 MB)", f"{growth:.1f} MB"))
    rows.append(("  chat calls the fake answered", f"{counts['chat']:,}"))
    return [("memory of the task's process (fake: no latency, own process)", ""), *rows]


def big(prompts: int, concurrency: int = 64) -> list[tuple[str, str]]:
    """Many prompts at 0.1 s each, many in flight, the fake in its own process."""
    ideal = prompts * LATENCY / concurrency
    with fake_process(LATENCY) as (url, _counts):
        use_fake(url, max_retries=3)
        run_execute(200, concurrency)  # warm-up
        seconds, _ = run_execute(prompts, concurrency)
    return [
        (f"{prompts:,} prompts at 0.1 s, max_concurrency={concurrency}: ideal", f"{ideal:.1f} s"),
        ("  batch, execute() directly", f"{seconds:.1f} s = {seconds / ideal:.2f}x ideal (goal <= 1.15x)"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mapped", type=int, default=100, help="mapped tasks to run (extrapolated to 1,000)")
    parser.add_argument("--rate-prompts", type=int, default=1000, help="prompts for the rate-limited run")
    parser.add_argument("--big-prompts", type=int, default=10_000, help="prompts of the 64-in-flight run")
    parser.add_argument("--memory-sizes", default="1000,10000,100000", help="input counts of the memory run")
    parser.add_argument("--only", choices=["base", "big", "memory"], help="run one part only")
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()

    dags_folder = airflow_env()
    if args.memory_child:
        n, data, out = args.memory_child
        peak_rss_child(int(n), Path(data), Path(out))
        return
    if args.only in ("big", "memory"):
        rows = (
            big(args.big_prompts)
            if args.only == "big"
            else memory([int(n) for n in args.memory_sizes.split(",")])
        )
        report("HuggingFaceBatchChatOperator on the local fake", rows)
        return
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    from tests.fakes.hf_api import FakeHF

    with quiet():
        db.resetdb()
    bag = DagBag(dag_folder=str(dags_folder))
    assert not bag.import_errors, bag.import_errors
    ideal = PROMPTS * LATENCY / CONCURRENCY
    rows: list[tuple[str, str]] = [("ideal: 1,000 x 0.1 s / 32 in flight", f"{ideal:.2f} s")]

    with FakeHF() as fake:
        fake.latency = LATENCY
        use_fake(fake.url, max_retries=3)

        # 1. The batch operator, execute() called directly, then as a task of a dag.test() run.
        run_execute(50, CONCURRENCY)  # warm-up: imports, first connections
        fake.reset()
        fake.latency = LATENCY
        seconds, _ = run_execute(PROMPTS, CONCURRENCY)
        rows += [
            ("batch, execute() directly: 1,000 prompts", f"{seconds:.2f} s = {seconds / ideal:.2f}x ideal"),
            ("  goal", "<= 1.25x"),
            ("  most calls in flight at once (fake)", str(fake.max_in_flight)),
        ]
        fake.reset()
        fake.latency = LATENCY
        batch_wall, durations = run_dag_test(bag.dags["bench_batch"], PROMPTS)
        batch_task = durations["batch"]
        rows += [
            ("batch as a dag.test() task: the task", f"{batch_task:.2f} s = {batch_task / ideal:.2f}x ideal"),
            ("  the whole dag.test() run (2 tasks)", f"{batch_wall:.2f} s"),
        ]

        # 2. The same prompts as mapped tasks, one chat call per task instance.
        fake.reset()
        fake.latency = LATENCY
        n = args.mapped
        wall, durations = run_dag_test(bag.dags["bench_mapped"], n)
        scale = PROMPTS / n
        note = f"ran {n}, extrapolated x{scale:g}" if n != PROMPTS else f"ran {n}"
        rows += [
            (f"mapped HuggingFaceChatOperator ({note})", f"{wall * scale:.1f} s for 1,000 under dag.test()"),
            (
                "  per mapped task instance, start to end",
                f"{durations['chat'] / n * 1000:.0f} ms (0.1 s is the fake)",
            ),
            ("  ratio of the dag.test() runs, mapped / batch", f"{wall * scale / batch_wall:.0f}x"),
        ]

        # 3. A server that admits 10 calls a second: does the limit learn it?
        rows += rate_limited(fake, args.rate_prompts)
    # 4. Many prompts, many in flight; 5. memory as the inputs grow. Each fake in its own process.
    rows += big(args.big_prompts)
    rows += memory([int(n) for n in args.memory_sizes.split(",")])
    report("HuggingFaceBatchChatOperator on the local fake (latency 0.1 s per call)", rows)


if __name__ == "__main__":
    main()
