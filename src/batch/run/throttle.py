"""Protecting fragile targets: a token bucket for job starts, and a circuit breaker
that stops the batch when the target looks down.

Both take their clock and sleep as arguments so tests never wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from batch.run.retry import Sleep
from runtime.outcome import AttemptOutcome, ErrorCategory

__all__ = ["CircuitBreaker", "RateLimiter"]


@dataclass
class RateLimiter:
    """At most ``rate`` job starts per second on average, bursts of at most ``burst``."""

    rate: float
    burst: float = 1.0
    clock: Callable[[], float] = time.monotonic
    sleep: Sleep = asyncio.sleep
    _tokens: float = field(init=False)
    _updated: float = field(init=False)
    _lock: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self._tokens = self.burst
        self._updated = self.clock()

    async def wait(self) -> None:
        """Return when the caller may start a job (waiting for a token if needed)."""
        async with self._lock:  # one waiter at a time keeps the starts evenly spaced
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens < 1:
                await self.sleep((1 - self._tokens) / self.rate)
                self._tokens = 1.0
                self._updated = self.clock()
            self._tokens -= 1


@dataclass
class CircuitBreaker:
    """Opens after ``threshold`` consecutive transient failures; any success resets it.

    Rate limits count too: a target answering only 429s is as unusable as a down one.
    """

    threshold: int
    consecutive: int = 0
    last_message: str = ""

    @property
    def open(self) -> bool:
        return 0 < self.threshold <= self.consecutive

    def observe(self, outcome: AttemptOutcome) -> bool:
        """Record an attempt; True when this attempt opened the breaker."""
        if outcome.ok or outcome.category not in (
            ErrorCategory.TRANSIENT,
            ErrorCategory.RATE_LIMIT,
        ):
            self.consecutive = 0
            return False
        was_open = self.open
        self.consecutive += 1
        self.last_message = outcome.message
        return self.open and not was_open
