"""Shared bits of the benchmarks: an isolated Airflow environment, the local fake, timing helpers."""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def isolated_airflow_env() -> dict[str, str]:
    """Environment variables for a throwaway Airflow home; also applied to this process."""
    home = tempfile.mkdtemp(prefix="bench-airflow-")
    env = {
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HOME": os.path.join(home, "huggingface"),
    }
    os.environ.update(env)
    for name in ("HF_TOKEN", "HF_ENDPOINT", "HF_HUB_OFFLINE"):
        os.environ.pop(name, None)
    return dict(os.environ)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(fn: Callable[[], object], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def interleaved(fns: dict[str, Callable[[], object]], n: int, warmup: int = 5) -> dict[str, list[float]]:
    """Time each function n times, alternating between them so drift hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(n):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return samples


def process_seconds(code: str, env: dict[str, str], runs: int) -> list[float]:
    """Wall time of fresh ``python -c code`` processes, as Airflow runs a task in a fresh process."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return samples


def silence_log(obj: object) -> None:
    """Give an Airflow hook or operator a logger that drops everything, to show what logging costs."""
    import logging

    null = logging.getLogger("bench.silenced")
    null.disabled = True
    obj._log = null  # type: ignore[attr-defined]


def report(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n== {title}")
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


# A fake in a process of its own, so that neither its CPU nor its memory counts as the measured process's.
FAKE_PROCESS = """
import sys
sys.path.insert(0, sys.argv[2])
from tests.fakes.hf_api import FakeHF

fake = FakeHF(keep_requests=False).start()  # 100,000 calls: count them rather than keep each one
fake.latency = float(sys.argv[1])
fake.embedding_dim = int(sys.argv[3])
fake.reply = "A short reply."
print(fake.url, flush=True)
sys.stdin.read()  # until the bench closes it
counts = fake.call_counts
print(counts["chat"], counts["embedding"], flush=True)
"""


@contextlib.contextmanager
def fake_process(latency: float, embedding_dim: int = 16) -> Iterator[tuple[str, dict[str, int]]]:
    """The fake's URL and, filled on exit, how many ``chat`` and ``embedding`` calls it answered."""
    process = subprocess.Popen(
        [sys.executable, "-c", FAKE_PROCESS, str(latency), str(ROOT), str(embedding_dim)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    counts: dict[str, int] = {}
    try:
        yield process.stdout.readline().strip(), counts
    finally:
        process.stdin.close()
        chat, embedding = (int(n) for n in (process.stdout.readline().split() or ["0", "0"]))
        counts.update(chat=chat, embedding=embedding)
        process.wait(timeout=30)


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started, or since :func:`reset_peak_rss`."""
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024


def rss_mb() -> float:
    """This process's resident memory now."""
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024


def reset_peak_rss() -> None:
    """Forget the peak so far (Linux), so that the next :func:`peak_rss_mb` is the peak from here on."""
    Path("/proc/self/clear_refs").write_text("5")
