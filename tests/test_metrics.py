"""Token accounting: each chat call adds its usage to Airflow's metrics, per model.

Airflow's ``Stats`` is replaced by a recorder (the names, counts and tags the hook hands to
Airflow), except in the last tests, which go through Airflow's own StatsD logger.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from airflow_provider_huggingface._internal.chat import count_tokens

TOKEN = "hf_metricstestcanary00001"


class StatsRecorder:
    """Stands in for Airflow's ``Stats``: records every counter increment."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, dict | None]] = []

    def incr(self, stat: str, count: int = 1, rate: float = 1, *, tags: dict | None = None) -> None:
        self.calls.append((stat, count, tags))

    def totals(self) -> Counter:
        """Counts summed per (metric, model)."""
        totals: Counter = Counter()
        for stat, count, tags in self.calls:
            totals[stat, (tags or {}).get("model")] += count
        return totals


@pytest.fixture
def stats(monkeypatch):
    from airflow_provider_huggingface._internal import airflow_compat

    recorder = StatsRecorder()
    monkeypatch.setattr(airflow_compat, "Stats", recorder, raising=False)
    return recorder


@pytest.fixture
def hook(fake_hf, make_hook):
    return make_hook(host=fake_hf.url, password=TOKEN, extra={"max_retries": 0})


def fake_usage(body: dict, reply: str) -> tuple[int, int]:
    """What the fake bills a request: one token per word of the messages and of the reply."""
    prompt = " ".join(m["content"] for m in body["messages"])
    return len(prompt.split()), len(reply.split())


def test_a_chat_adds_its_tokens_under_the_model(fake_hf, hook, stats):
    fake_hf.reply = "one two three"
    result = hook.chat(user_prompt="Say three words", system_prompt="Be brief.", model="owner/model-a")
    assert result["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    assert stats.calls == [
        ("huggingface.prompt_tokens", 5, {"model": "owner/model-a"}),
        ("huggingface.completion_tokens", 3, {"model": "owner/model-a"}),
    ]


def test_usage_adds_up_per_model_across_calls(fake_hf, hook, stats):
    fake_hf.reply = "a b"
    for model, prompt in (("owner/a", "one"), ("owner/b", "one two"), ("owner/a", "one two three")):
        hook.chat(user_prompt=prompt, model=model)
    assert stats.totals() == {
        ("huggingface.prompt_tokens", "owner/a"): 4,
        ("huggingface.completion_tokens", "owner/a"): 4,
        ("huggingface.prompt_tokens", "owner/b"): 2,
        ("huggingface.completion_tokens", "owner/b"): 2,
    }


def test_without_a_model_name_the_served_model_is_the_tag(fake_hf, hook, stats):
    hook.chat(user_prompt="Hi")
    assert {tags["model"] for _, _, tags in stats.calls} == {"fake-model"}  # what the fake serves


def test_a_streamed_chat_counts_the_same(fake_hf, hook, stats):
    fake_hf.reply = "one two three four"
    hook.chat(user_prompt="Count to four", model="owner/a")
    plain = list(stats.calls)
    stats.calls.clear()
    hook.chat(user_prompt="Count to four", model="owner/a", stream=True)
    assert stats.calls == plain


def test_the_async_twin_counts_every_billed_call(fake_hf, hook, stats):
    fake_hf.reply = "x y"
    request = hook.prepare_chat(user_prompt="Go on now", model="owner/a")
    asyncio.run(hook.achat(request))
    assert stats.totals() == {
        ("huggingface.prompt_tokens", "owner/a"): 3,
        ("huggingface.completion_tokens", "owner/a"): 2,
    }
    stats.calls.clear()
    asyncio.run(hook.achat(request, report=False))  # a batch logs progress, not calls: still counted
    assert len(stats.calls) == 2


def test_a_call_without_usage_counts_nothing(stats):
    count_tokens("owner/a", None)
    count_tokens("owner/a", {})
    assert stats.calls == []


def test_a_reask_counts_the_tokens_of_both_calls(fake_hf, hook, stats):
    fake_hf.reply = lambda body: '{"n": 1}' if len(body["messages"]) > 1 else "not json at all"
    hook.chat(user_prompt="Give JSON please", model="owner/a", response_format={"type": "json_object"})
    first, second = fake_hf.chat_requests
    billed = [fake_usage(first.body, "not json at all"), fake_usage(second.body, '{"n": 1}')]
    assert stats.totals() == {
        ("huggingface.prompt_tokens", "owner/a"): billed[0][0] + billed[1][0],
        ("huggingface.completion_tokens", "owner/a"): billed[0][1] + billed[1][1],
    }


def test_tokens_of_a_failed_structured_call_are_counted(fake_hf, hook, stats):
    from airflow_provider_huggingface.exceptions import StructuredOutputError

    fake_hf.reply = "never JSON"
    with pytest.raises(StructuredOutputError):
        hook.chat(user_prompt="Give JSON", model="owner/a", response_format={"type": "json_object"})
    assert len(fake_hf.chat_requests) == 2
    assert stats.totals()["huggingface.completion_tokens", "owner/a"] == 4


# ------------------------------------------------------------------- Airflow's own StatsD logger


class StatsdClient:
    """The part of ``statsd.StatsClient`` Airflow's StatsD logger calls (the package is optional)."""

    sent: list[tuple[str, int]] = []

    def __init__(self, host, port, prefix, ipv6) -> None:
        self.prefix = prefix

    def incr(self, stat: str, count: int = 1, rate: float = 1) -> None:
        self.sent.append((f"{self.prefix}.{stat}", count))


@pytest.fixture
def statsd(monkeypatch):
    """Airflow's Stats with its StatsD logger: ``statsd(influxdb_tags=...)`` returns what was sent."""
    from tests.airflow_internals import statsd_logger, use_stats

    def use(*, influxdb_tags: bool) -> list[tuple[str, int]]:
        logger = statsd_logger(StatsdClient, prefix="airflow", influxdb_tags=influxdb_tags)
        use_stats(monkeypatch, lambda: logger)
        monkeypatch.setattr(StatsdClient, "sent", [])
        return StatsdClient.sent

    return use


def test_statsd_gets_the_model_as_an_influxdb_tag(fake_hf, hook, statsd):
    sent = statsd(influxdb_tags=True)
    fake_hf.reply = "one two three"
    hook.chat(user_prompt="Say three words", model="mistralai/Mistral-7B-Instruct-v0.3")
    assert sent == [
        ("airflow.huggingface.prompt_tokens,model=mistralai/Mistral-7B-Instruct-v0.3", 3),
        ("airflow.huggingface.completion_tokens,model=mistralai/Mistral-7B-Instruct-v0.3", 3),
    ]


def test_plain_statsd_has_no_tags_so_models_add_up(fake_hf, hook, statsd):
    sent = statsd(influxdb_tags=False)
    fake_hf.reply = "one"
    hook.chat(user_prompt="a", model="owner/a")
    hook.chat(user_prompt="b", model="owner/b")
    each = [("airflow.huggingface.prompt_tokens", 1), ("airflow.huggingface.completion_tokens", 1)]
    assert sent == each * 2


def test_an_endpoint_model_name_with_a_colon_is_still_counted(fake_hf, hook, statsd):
    sent = statsd(influxdb_tags=True)
    fake_hf.reply = "one"
    hook.chat(user_prompt="a", model="llama3:8b")
    assert [count for _, count in sent] == [1, 1]


def test_embeddings_add_their_prompt_tokens_and_a_router_call_without_usage_adds_none(
    fake_hf, hook, stats, hub_redirect, make_hook
):
    assert hook.embed(["one two", "three"], model="owner/embedder")["usage"]["prompt_tokens"] == 3
    assert stats.totals() == Counter(
        {
            ("huggingface.prompt_tokens", "owner/embedder"): 3,
            ("huggingface.completion_tokens", "owner/embedder"): 0,
        }
    )
    router = make_hook("hf_metrics_router", password=TOKEN)
    assert router.embed(["one two"])["usage"] is None  # feature extraction reports no usage
    assert len(stats.calls) == 2
