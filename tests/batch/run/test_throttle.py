"""Rate limiting and the circuit breaker, with a fake clock: nothing waits for real."""

from __future__ import annotations

from batch.run.throttle import CircuitBreaker, RateLimiter
from runtime.outcome import AttemptOutcome, ErrorCategory


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_rate_limiter_spaces_job_starts() -> None:
    fake = FakeTime()
    limiter = RateLimiter(rate=2.0, clock=fake.clock, sleep=fake.sleep)
    starts = []
    for _ in range(5):
        await limiter.wait()
        starts.append(fake.now)
    assert starts == [0.0, 0.5, 1.0, 1.5, 2.0]


async def test_rate_limiter_lets_idle_time_refill_up_to_the_burst() -> None:
    fake = FakeTime()
    limiter = RateLimiter(rate=1.0, burst=2.0, clock=fake.clock, sleep=fake.sleep)
    await limiter.wait()
    await limiter.wait()
    fake.now += 10  # a long pause refills at most `burst` tokens
    for _ in range(2):
        await limiter.wait()
    assert fake.now == 10.0
    await limiter.wait()
    assert fake.now == 11.0


def outcome(category: ErrorCategory | None) -> AttemptOutcome:
    return AttemptOutcome(ok=category is None, duration_s=0.1, category=category, message="m")


def test_breaker_opens_after_consecutive_transient_failures_only() -> None:
    breaker = CircuitBreaker(threshold=3)
    assert not breaker.observe(outcome(ErrorCategory.TRANSIENT))
    assert not breaker.observe(outcome(ErrorCategory.RATE_LIMIT))
    assert not breaker.observe(outcome(None))  # a success resets the count
    assert not breaker.observe(outcome(ErrorCategory.TRANSIENT))
    assert not breaker.observe(outcome(ErrorCategory.BUSINESS))  # the target answered
    assert not breaker.observe(outcome(ErrorCategory.TRANSIENT))
    assert not breaker.observe(outcome(ErrorCategory.TRANSIENT))
    assert breaker.observe(outcome(ErrorCategory.TRANSIENT))
    assert breaker.open
    assert not breaker.observe(outcome(ErrorCategory.TRANSIENT)), "reports opening once"


def test_breaker_with_threshold_zero_never_opens() -> None:
    breaker = CircuitBreaker(threshold=0)
    for _ in range(100):
        breaker.observe(outcome(ErrorCategory.TRANSIENT))
    assert not breaker.open
