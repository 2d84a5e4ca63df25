from __future__ import annotations

import asyncio

import pytest

from airflow_provider_huggingface._internal.retry import RetryPolicy, retrying
from airflow_provider_huggingface._internal.steps import adrive, drive
from airflow_provider_huggingface.exceptions import (
    HuggingFaceError,
    InvalidTokenError,
    RateLimitError,
    ServiceUnavailableError,
)


def identity(exc):
    return exc if isinstance(exc, HuggingFaceError) else HuggingFaceError(str(exc))


def call_with_retries(call, *, policy, map_error, log=None, sleep=lambda seconds: None):
    """The retry steps run by the real driver; each wait is handed to ``sleep`` instead of slept."""
    from unittest import mock

    from airflow_provider_huggingface._internal import steps

    with mock.patch.object(steps.time, "sleep", sleep):
        return drive(retrying("request", policy=policy, map_error=map_error, log=log), lambda step: call())


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

    async def call(step):
        assert step == "request"
        return script()

    policy = RetryPolicy(max_retries=2, base_delay=0.001)
    steps = retrying(
        "request", policy=policy, map_error=identity, on_failure=lambda error, again: seen.append(again)
    )
    with pytest.raises(ServiceUnavailableError):
        asyncio.run(adrive(steps, call))
    assert script.calls == 3
    assert seen == [True, True, False]


def test_an_admission_refused_before_an_attempt_ends_the_steps_without_sending():
    script = Script()
    steps = retrying("request", policy=RetryPolicy(), map_error=identity, admit=refuse_after(0))
    with pytest.raises(InvalidTokenError, match="budget spent"):
        drive(steps, lambda step: script())
    assert script.calls == 0


def test_a_retry_refused_leaves_the_last_failure_saying_so():
    script = Script(ServiceUnavailableError("503", status_code=503))
    steps = retrying(
        "request", policy=RetryPolicy(base_delay=0.001), map_error=identity, admit=refuse_after(1)
    )
    with pytest.raises(ServiceUnavailableError, match="503 Not retried: budget spent") as raised:
        drive(steps, lambda step: script())
    assert raised.value.status_code == 503
    assert script.calls == 1


def refuse_after(admitted: int):
    """An admission that lets ``admitted`` attempts through, then refuses."""
    seen = []

    def admit():
        if len(seen) == admitted:
            raise InvalidTokenError("budget spent")
        seen.append(True)

    return admit


def test_the_client_error_is_not_the_context_of_the_mapped_error():
    def call(step):
        raise ConnectionError("token hf_secret in the request")

    steps = retrying("request", policy=RetryPolicy(max_retries=0), map_error=identity)
    with pytest.raises(HuggingFaceError) as raised:
        drive(steps, call)
    assert raised.value.__context__ is None
    assert raised.value.__cause__ is None
