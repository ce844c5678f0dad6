"""The retry policy decides from outcomes and waits through an injected sleep."""

from __future__ import annotations

import pytest

from batch.run.retry import RetryPolicy
from runtime.outcome import AttemptOutcome, ErrorCategory


def failure(category: ErrorCategory, retry_after: float | None = None) -> AttemptOutcome:
    return AttemptOutcome(
        ok=False, duration_s=0.1, category=category, message="x", retry_after_s=retry_after
    )


OK = AttemptOutcome(ok=True, duration_s=0.1)


class Script:
    """Returns the scripted outcomes in order and records the sleeps asked for."""

    def __init__(self, *outcomes: AttemptOutcome) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0
        self.sleeps: list[float] = []

    async def attempt(self) -> AttemptOutcome:
        self.calls += 1
        return self.outcomes.pop(0)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


async def test_transient_failures_are_retried_with_exponential_backoff() -> None:
    script = Script(failure(ErrorCategory.TRANSIENT), failure(ErrorCategory.TRANSIENT), OK)
    policy = RetryPolicy(max_retries=2, retry_delay=1.0, backoff_factor=2.0, jitter=0)
    result = await policy.retrying(script.sleep)(script.attempt)
    assert result.ok
    assert script.calls == 3
    assert script.sleeps == [1.0, 2.0]


async def test_business_failures_are_not_retried() -> None:
    script = Script(failure(ErrorCategory.BUSINESS), OK)
    result = await RetryPolicy().retrying(script.sleep)(script.attempt)
    assert result.category is ErrorCategory.BUSINESS
    assert script.calls == 1
    assert script.sleeps == []


async def test_gives_up_after_max_retries_and_returns_the_last_outcome() -> None:
    script = Script(*[failure(ErrorCategory.UNKNOWN)] * 3, OK)
    result = await RetryPolicy(max_retries=2, jitter=0).retrying(script.sleep)(script.attempt)
    assert not result.ok
    assert result.category is ErrorCategory.UNKNOWN
    assert script.calls == 3


async def test_retry_after_is_honoured_and_capped() -> None:
    script = Script(
        failure(ErrorCategory.RATE_LIMIT, retry_after=7.0),
        failure(ErrorCategory.RATE_LIMIT, retry_after=500.0),
        OK,
    )
    policy = RetryPolicy(max_retries=2, retry_delay=1.0, max_delay=30.0, jitter=0)
    await policy.retrying(script.sleep)(script.attempt)
    assert script.sleeps == [7.0, 30.0]


async def test_rate_limit_without_retry_after_backs_off_longer() -> None:
    script = Script(failure(ErrorCategory.RATE_LIMIT), OK)
    await RetryPolicy(retry_delay=1.0, jitter=0).retrying(script.sleep)(script.attempt)
    assert script.sleeps == [2.0]


@pytest.mark.parametrize("attempt_failures", [1, 2])
async def test_jitter_adds_a_bounded_random_delay(attempt_failures: int) -> None:
    script = Script(*[failure(ErrorCategory.TRANSIENT)] * attempt_failures, OK)
    policy = RetryPolicy(max_retries=3, retry_delay=1.0, backoff_factor=3.0, jitter=0.5)
    await policy.retrying(script.sleep)(script.attempt)
    for number, slept in enumerate(script.sleeps, start=1):
        base = 3.0 ** (number - 1)
        assert base <= slept <= base + 0.5


async def test_retry_on_is_configurable() -> None:
    script = Script(failure(ErrorCategory.TRANSIENT), OK)
    policy = RetryPolicy(retry_on=frozenset({ErrorCategory.RATE_LIMIT}))
    result = await policy.retrying(script.sleep)(script.attempt)
    assert not result.ok
    assert script.calls == 1
