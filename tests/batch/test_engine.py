"""The batch engine in Airflow's metrics: each reply's tokens reach a real StatsD listener once.

Airflow's StatsD logger is configured the way a deployment configures it (``[metrics] statsd_on``,
``statsd_host``, ``statsd_port``) and started the way the task runner starts it; a UDP socket on
127.0.0.1 receives what it sends while the batch operator runs against the local fake. A DAG run would
add nothing to this: the logger is already started as a task process starts it (the batch in DAG runs is
tested in tests/operators/test_batch.py).
"""

from __future__ import annotations

import socket
from collections import Counter

import pytest

from tests.batch.stubs import operator, stub_context

PREFIX = "hfbatchtest"


class StatsdListener:
    """A UDP socket on 127.0.0.1 that collects StatsD counter lines (``name:count|c``)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]

    def counters(self) -> list[tuple[str, int]]:
        """Every counter received until the socket has been quiet for half a second."""
        received = []
        while True:
            try:
                packet = self.sock.recv(65535).decode()
            except TimeoutError:
                return received
            for line in packet.splitlines():
                name, _, value = line.partition(":")
                count, _, kind = value.partition("|")
                if kind == "c":
                    received.append((name, int(count)))


@pytest.fixture
def statsd(monkeypatch):
    """Airflow's own StatsD logger, from its settings, sending to a listener on 127.0.0.1."""
    from tests.airflow_internals import stats_factory_from_config, use_stats

    listener = StatsdListener()
    for key, value in {
        "STATSD_ON": "True",
        "STATSD_HOST": "127.0.0.1",
        "STATSD_PORT": str(listener.port),
        "STATSD_PREFIX": PREFIX,
    }.items():
        monkeypatch.setenv(f"AIRFLOW__METRICS__{key}", value)
    # What the task runner does when a task process starts.
    use_stats(monkeypatch, stats_factory_from_config())
    try:
        yield listener
    finally:
        listener.sock.close()


def test_a_batch_sends_each_replys_tokens_once(fake_conn, statsd):
    items = [{"q": f"question number {i}"} for i in range(25)]
    summary = operator(inputs=items, user_prompt="{{item.q}}", max_concurrency=4).execute(stub_context())
    assert summary["succeeded"] == len(items), summary
    usage = summary["usage"]
    assert usage["prompt_tokens"] > 0
    sent = [(name, count) for name, count in statsd.counters() if ".huggingface." in name]
    totals = Counter()
    for name, count in sent:
        totals[name] += count
    assert totals == {
        f"{PREFIX}.huggingface.prompt_tokens": usage["prompt_tokens"],
        f"{PREFIX}.huggingface.completion_tokens": usage["completion_tokens"],
    }
    assert len(sent) == 2 * len(items)  # one prompt and one completion counter per reply
