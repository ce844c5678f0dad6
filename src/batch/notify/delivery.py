"""Sending one webhook delivery: the signed POST, its outcome, and when to try again.

Retries are scheduled in the store (``next_attempt_at``), not slept on in memory, so
a delivery waiting for its next attempt survives a restart of the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from batch.notify.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from batch.store._webhooks import ClaimedDelivery, DeliveryAttempt

__all__ = ["RetryPolicy", "send"]

_ERROR_CHARS = 300


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff over a bounded number of attempts (as tenacity's
    ``stop_after_attempt`` + ``wait_exponential``)."""

    max_attempts: int = 5
    first_delay_s: float = 2.0
    factor: float = 4.0
    max_delay_s: float = 600.0

    def next_delay(self, attempt: int) -> float | None:
        """Seconds before attempt ``attempt + 1``; None once ``attempt`` was the last."""
        if attempt >= self.max_attempts:
            return None
        return min(self.max_delay_s, self.first_delay_s * self.factor ** (attempt - 1))


def _error(exc: httpx.HTTPError) -> str:
    """The exception's class and message (httpx's never holds our headers)."""
    return f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]


async def send(
    client: httpx.AsyncClient,
    delivery: ClaimedDelivery,
    policy: RetryPolicy,
    *,
    now: datetime,
    wall: Callable[[], float] = time.time,
) -> tuple[DeliveryAttempt, str]:
    """POST ``delivery`` once, signed; the attempt as recorded and the delivery's new
    state (``delivered``, ``pending`` for a retry, ``failed`` after the last attempt)."""
    number = delivery.attempts + 1
    body = delivery.payload.encode("utf-8")
    timestamp = int(wall())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "batchwright-webhooks",
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: delivery.delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(delivery.secret, timestamp, body),
    }
    started = time.perf_counter()
    status_code: int | None = None
    error = ""
    try:
        response = await client.post(delivery.url, content=body, headers=headers)
        status_code = response.status_code
        if not response.is_success:
            error = f"HTTP {status_code}"
    except httpx.HTTPError as exc:
        error = _error(exc)
    duration = time.perf_counter() - started
    delay = None if not error else policy.next_delay(number)
    attempt = DeliveryAttempt(
        number=number,
        started_at=now,
        duration_s=round(duration, 4),
        status_code=status_code,
        error=error,
        next_attempt_at=None if delay is None else now + timedelta(seconds=delay),
    )
    state = "delivered" if not error else ("pending" if delay is not None else "failed")
    return attempt, state
