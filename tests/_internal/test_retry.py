from __future__ import annotations

import asyncio

import pytest

from airflow_provider_huggingface._internal.retry import (
    RetryPolicy,
    async_call_with_retries,
    call_with_retries,
)
from airflow_provider_huggingface.exceptions import (
    HuggingFaceError,
    InvalidTokenError,
    RateLimitError,
    ServiceUnavailableError,
)


def identity(exc):
    return exc if isinstance(exc, HuggingFaceError) else HuggingFaceError(str(exc))


class Script:
    """Raises the given errors in turn, then returns 'ok'."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_transient_errors_are_retried_until_success():
    waits = []
    script = Script(RateLimitError("429"), ServiceUnavailableError("503"))
    result = call_with_retries(
        script, policy=RetryPolicy(max_retries=3), map_error=identity, sleep=waits.append
    )
    assert result == "ok"
    assert script.calls == 3
    assert len(waits) == 2


def test_retries_are_bounded():
    script = Script(*[ServiceUnavailableError("503")] * 10)
    with pytest.raises(ServiceUnavailableError):
        call_with_retries(script, policy=RetryPolicy(max_retries=2), map_error=identity, sleep=lambda s: None)
    assert script.calls == 3  # 1 + max_retries


def test_permanent_errors_are_not_retried():
    script = Script(InvalidTokenError("401"))
    with pytest.raises(InvalidTokenError):
        call_with_retries(script, policy=RetryPolicy(max_retries=5), map_error=identity, sleep=lambda s: None)
    assert script.calls == 1


def test_zero_retries_means_one_attempt():
    script = Script(RateLimitError("429"))
    with pytest.raises(RateLimitError):
        call_with_retries(script, policy=RetryPolicy(max_retries=0), map_error=identity, sleep=lambda s: None)
    assert script.calls == 1


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0)
    error = RateLimitError("429")
    for retry, (low, high) in enumerate(
        [(0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (2.5, 5.0), (2.5, 5.0)], start=1
    ):
        samples = [policy.delay(retry, error) for _ in range(200)]
        assert low <= min(samples)
        assert max(samples) <= high
        assert len(set(samples)) > 1  # jittered


def test_server_wait_is_honoured_and_capped():
    policy = RetryPolicy(max_server_wait=10.0)
    assert 7.0 <= policy.delay(1, RateLimitError("429", retry_after=7.0)) <= 8.0
    assert 10.0 <= policy.delay(1, ServiceUnavailableError("503", retry_after=3600.0)) <= 11.0


def test_each_retry_is_logged_with_cause_and_wait(caplog):
    import logging

    log = logging.getLogger("test.retry")
    script = Script(RateLimitError("429", status_code=429, server_message="slow down"))
    with caplog.at_level(logging.WARNING, logger="test.retry"):
        call_with_retries(script, policy=RetryPolicy(), map_error=identity, log=log, sleep=lambda s: None)
    assert "Retry 1/3" in caplog.text
    assert "HTTP 429" in caplog.text
    assert "slow down" in caplog.text


def test_async_twin_behaves_the_same():
    script = Script(
        ServiceUnavailableError("503"), ServiceUnavailableError("503"), ServiceUnavailableError("503")
    )
    seen = []

    async def call():
        return script()

    policy = RetryPolicy(max_retries=2, base_delay=0.001)
    with pytest.raises(ServiceUnavailableError):
        asyncio.run(async_call_with_retries(call, policy=policy, map_error=identity, on_retry=seen.append))
    assert script.calls == 3
    assert len(seen) == 2
