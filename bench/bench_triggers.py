"""Hundreds of deferred chats in one event loop, as the triggerer runs them, against raw client calls.

N = 50, 200 and 1,000 ``HuggingFaceChatTrigger.run()`` coroutines in one event loop against the local
fake at 1 s latency (the fake runs in its own process, so its threads do not take the loop's GIL),
side by side with raw ``AsyncInferenceClient.chat_completion`` calls in the same kind of loop:

- raw, one client shared by all calls (the baseline);
- raw, a new client per call (what a trigger that opens its own client costs);
- the trigger.

For each: wall time, and the longest stall of the event loop seen by a probe coroutine that sleeps
10 ms at a time. Then the peak memory (tracemalloc) per waiting trigger at N = 200.

Goals: trigger wall time within 1.2x of the shared raw client at every N, longest stall under 100 ms,
under 100 kB per waiting trigger.

Run: python bench/bench_triggers.py [--sizes 50,200,1000] [--latency 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import tracemalloc

from _common import ROOT, isolated_airflow_env, report

TOKEN = "hf_benchmarktoken000000001"
CONN_ID = "hf_bench_triggers"
MESSAGES = [{"role": "user", "content": "Say hello"}]
GENERATION = {"max_tokens": 16}
PROBE = 0.01

FAKE_SERVER = """
import sys, time
from tests.fakes.hf_api import FakeHF
fake = FakeHF().start()
fake.latency = float(sys.argv[1])
print(fake.url, flush=True)
sys.stdin.read()
fake.stop()
"""


@contextlib.contextmanager
def fake_in_subprocess(latency: float):
    """The fake API in a process of its own; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-c", FAKE_SERVER, str(latency)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield process.stdout.readline().strip()
    finally:
        process.stdin.close()
        process.wait(timeout=30)


async def probe(stop: asyncio.Event) -> float:
    """The longest time the loop took to come back to a coroutine that asked to sleep 10 ms."""
    worst = 0.0
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(PROBE)
        worst = max(worst, time.perf_counter() - start - PROBE)
    return worst


async def measured(calls) -> tuple[float, float]:
    """Run the coroutines together beside the probe: (wall seconds, longest stall seconds)."""
    stop = asyncio.Event()
    watcher = asyncio.create_task(probe(stop))
    await asyncio.sleep(PROBE * 2)  # the probe is running before the first call starts
    start = time.perf_counter()
    results = await asyncio.gather(*calls)
    wall = time.perf_counter() - start
    stop.set()
    stall = await watcher
    return wall, stall, results


def raw_shared(url: str, n: int):
    async def main():
        from huggingface_hub import AsyncInferenceClient

        async with AsyncInferenceClient(base_url=url, token=TOKEN, timeout=120) as client:
            calls = [client.chat_completion(MESSAGES, **GENERATION) for _ in range(n)]
            return await measured(calls)

    return main


def raw_per_call(url: str, n: int):
    async def one():
        from huggingface_hub import AsyncInferenceClient

        async with AsyncInferenceClient(base_url=url, token=TOKEN, timeout=120) as client:
            return await client.chat_completion(MESSAGES, **GENERATION)

    async def main():
        return await measured([one() for _ in range(n)])

    return main


def triggers(url: str, n: int):
    from airflow_provider_huggingface.triggers.huggingface import HuggingFaceChatTrigger

    async def one():
        trigger = HuggingFaceChatTrigger(
            hf_conn_id=CONN_ID, model=None, messages=MESSAGES, generation=GENERATION
        )
        events = [event async for event in trigger.run()]
        assert events[0].payload["status"] == "success", events[0].payload
        return events

    async def main():
        return await measured([one() for _ in range(n)])

    return main


def warm(url: str) -> None:
    """Imports and the connection lookup done once, as a long-running triggerer has them."""
    asyncio.run(raw_shared(url, 1)())
    asyncio.run(triggers(url, 1)())


def timing(url: str, sizes: list[int]) -> list[tuple[str, str]]:
    rows = []
    for n in sizes:
        figures = {}
        for name, build in (
            ("raw shared", raw_shared),
            ("raw per call", raw_per_call),
            ("trigger", triggers),
        ):
            wall, stall, results = asyncio.run(build(url, n)())
            assert len(results) == n
            figures[name] = (wall, stall)
        base = figures["raw shared"][0]
        for name, (wall, stall) in figures.items():
            rows.append(
                (
                    f"N={n:<5} {name}",
                    f"wall {wall:6.2f} s ({wall / base:4.2f}x shared)  stall {stall * 1000:6.0f} ms",
                )
            )
        rows.append((f"N={n:<5} goal", "trigger <= 1.20x shared, stall < 100 ms"))
    return rows


def memory(url: str, n: int) -> list[tuple[str, str]]:
    rows = []
    for name, build in (("raw shared", raw_shared), ("trigger", triggers)):
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        asyncio.run(build(url, n)())
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows.append((f"N={n} {name}: peak memory per waiting call", f"{(peak - before) / n / 1024:6.1f} kB"))
    rows.append(("goal per waiting trigger", "< 100 kB"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="50,200,1000")
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--memory-n", type=int, default=200)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    isolated_airflow_env()
    with fake_in_subprocess(args.latency) as url:
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
            {"conn_type": "huggingface", "host": url, "password": TOKEN, "extra": {"timeout": 120}}
        )
        warm(url)
        report(
            f"{', '.join(map(str, sizes))} chats in one event loop, latency {args.latency:g} s",
            timing(url, sizes),
        )
        report("memory (tracemalloc)", memory(url, args.memory_n))


if __name__ == "__main__":
    main()
