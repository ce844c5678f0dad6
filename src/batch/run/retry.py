"""Retry policies: which failed attempts are tried again, and after how long.

Built on tenacity, as small composable callables: ``retry_failed_outcome`` decides
from the attempt's error category, ``wait_backoff`` computes exponential backoff
with jitter and honours a server's Retry-After. ``sleep`` is injected so tests
never wait for real.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt
from tenacity.retry import retry_base

from batch.settings import BatchSettings
from runtime.outcome import AttemptOutcome, ErrorCategory

__all__ = ["RetryPolicy", "Sleep"]

Sleep = Callable[[float], Awaitable[None]]

RATE_LIMIT_BACKOFF_MULTIPLIER = 2.0
"""Without a Retry-After, a rate-limited target gets twice the usual backoff."""


def _last_outcome(state: RetryCallState) -> AttemptOutcome:
    assert state.outcome is not None, "tenacity asks for a decision only after an attempt"
    outcome: AttemptOutcome = state.outcome.result()
    return outcome


class retry_failed_outcome(retry_base):
    """Retry an attempt that failed with one of ``categories``."""

    def __init__(self, categories: frozenset[ErrorCategory]) -> None:
        self.categories = categories

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = _last_outcome(retry_state)
        return not outcome.ok and outcome.category in self.categories


@dataclass(frozen=True)
class wait_backoff:
    """``delay * factor ** (n - 1)`` plus up to ``jitter`` seconds, capped at ``max_delay``.

    A Retry-After from the server wins when it is longer; rate-limited attempts
    without one back off ``RATE_LIMIT_BACKOFF_MULTIPLIER`` times longer.
    """

    delay: float
    factor: float
    max_delay: float
    jitter: float
    random_uniform: Callable[[float, float], float] = random.uniform

    def __call__(self, retry_state: RetryCallState) -> float:
        return self.after(_last_outcome(retry_state), retry_state.attempt_number)

    def after(self, outcome: AttemptOutcome, attempt_number: int) -> float:
        """The wait after the ``attempt_number``-th attempt ended with ``outcome``."""
        wait = self.delay * self.factor ** (attempt_number - 1)
        if outcome.category is ErrorCategory.RATE_LIMIT:
            wait *= RATE_LIMIT_BACKOFF_MULTIPLIER
        if self.jitter:
            wait += self.random_uniform(0, self.jitter)
        if outcome.retry_after_s is not None:
            wait = max(wait, outcome.retry_after_s)
        return min(wait, self.max_delay)


@dataclass(frozen=True)
class RetryPolicy:
    """How a job's attempts are repeated. ``max_retries`` counts retries, not attempts."""

    max_retries: int = 2
    retry_delay: float = 1.0
    backoff_factor: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.5
    retry_on: frozenset[ErrorCategory] = frozenset(
        {ErrorCategory.TRANSIENT, ErrorCategory.RATE_LIMIT, ErrorCategory.UNKNOWN}
    )

    @classmethod
    def from_settings(cls, settings: BatchSettings) -> RetryPolicy:
        return cls(
            max_retries=settings.max_retries,
            retry_delay=settings.retry_delay,
            backoff_factor=settings.backoff_factor,
            max_delay=settings.max_delay,
            jitter=settings.jitter,
            retry_on=settings.retry_on,
        )

    def will_retry(self, outcome: AttemptOutcome, attempt_number: int) -> bool:
        """Whether ``retrying`` tries again after this outcome (for recording attempts)."""
        return (
            not outcome.ok
            and outcome.category in self.retry_on
            and attempt_number <= self.max_retries
        )

    def delay_after(self, outcome: AttemptOutcome, attempt_number: int) -> float:
        """The backoff before the next attempt (a worker schedules the retry as a
        delayed message instead of sleeping)."""
        return self._wait().after(outcome, attempt_number)

    def _wait(self) -> wait_backoff:
        return wait_backoff(self.retry_delay, self.backoff_factor, self.max_delay, self.jitter)

    def retrying(self, sleep: Sleep = asyncio.sleep) -> AsyncRetrying:
        """A tenacity controller that returns the last outcome instead of raising."""
        return AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            retry=retry_failed_outcome(self.retry_on),
            wait=self._wait(),
            sleep=sleep,
            retry_error_callback=_last_outcome,
            reraise=False,
        )
