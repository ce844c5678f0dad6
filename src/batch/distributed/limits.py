"""Per-batch limits shared by every worker, kept in Redis (the broker's server).

``SharedRateLimiter``: ``--rate`` is the batch's total rows/s across all workers.
Each start takes the next free slot from one Redis key (a Lua script, atomic, on
Redis's clock), then sleeps until its slot: starts are evenly spaced whichever
worker takes them. ``SharedBreaker``: consecutive transient failures counted over
every worker's attempts; once open, workers leave the batch's rows pending.
``SharedFailureLimit``: ``--max-failures``, failed rows counted over every worker.
``PendingChecks``: needs_review rows sent for a ``verify:`` check and not yet checked,
so that no process settles the batch before they are.

While Redis is unreachable both fail safe for the rows: the limiter spaces this
worker's starts alone, the breaker counts nothing and stays as it was.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

import redis

from runtime.outcome import AttemptOutcome, ErrorCategory

__all__ = [
    "PendingChecks",
    "SharedBreaker",
    "SharedFailureLimit",
    "SharedRateLimiter",
    "broker_reachable",
    "redis_client",
]

logger = logging.getLogger("batchwright.distributed")

KEY_TTL_S = 7 * 24 * 3600
"""Limit keys expire a week after their last use: a finished batch leaves nothing."""

# KEYS[1]: the next free start time (Redis clock, microseconds); ARGV[1]: the spacing.
_TAKE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
redis.call('SET', KEYS[1], slot + tonumber(ARGV[1]), 'EX', ARGV[2])
return slot - now
"""


def redis_client(url: str) -> redis.Redis:
    """A client that gives up quickly on a down server instead of hanging a job."""
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def broker_reachable(client: redis.Redis) -> bool:
    """One PING: False while Redis is down or restarting."""
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def _key(batch_id: str, name: str) -> str:
    return f"batchwright:batch:{batch_id}:{name}"


class SharedRateLimiter:
    """At most ``rate`` job starts per second for one batch, over all workers."""

    def __init__(self, client: redis.Redis, batch_id: str, rate: float) -> None:
        self._take = client.register_script(_TAKE_SLOT)
        self._key = _key(batch_id, "rate")
        self._spacing_us = round(1_000_000 / rate)

    async def wait(self) -> None:
        """Return at this start's slot (blocking Redis call: microseconds on a LAN)."""
        try:
            wait_us = cast(int, self._take(keys=[self._key], args=[self._spacing_us, KEY_TTL_S]))
        except redis.RedisError as exc:
            logger.warning("rate limiter: Redis unreachable (%s); spacing this worker alone", exc)
            wait_us = self._spacing_us
        if wait_us > 0:
            await asyncio.sleep(wait_us / 1_000_000)


class SharedBreaker:
    """Opens after ``threshold`` consecutive transient failures counted on all workers."""

    def __init__(self, client: redis.Redis, batch_id: str, threshold: int) -> None:
        self._client = client
        self._count = _key(batch_id, "breaker")
        self._open = _key(batch_id, "breaker_open")
        self.threshold = threshold

    @property
    def open(self) -> bool:
        if not self.threshold:
            return False
        try:
            return bool(self._client.exists(self._open))
        except redis.RedisError:
            return False

    def observe(self, outcome: AttemptOutcome) -> bool:
        """Record an attempt; True when this attempt opened the breaker."""
        if not self.threshold:
            return False
        try:
            return self._observe(outcome)
        except redis.RedisError:
            return False

    def _observe(self, outcome: AttemptOutcome) -> bool:
        if outcome.ok or outcome.category not in (
            ErrorCategory.TRANSIENT,
            ErrorCategory.RATE_LIMIT,
        ):
            self._client.set(self._count, 0, ex=KEY_TTL_S)
            return False
        count = int(self._client.incr(self._count))
        self._client.expire(self._count, KEY_TTL_S)
        if count < self.threshold:
            return False
        # SET NX: of several workers crossing the threshold, one reports the opening
        return bool(self._client.set(self._open, 1, nx=True, ex=KEY_TTL_S))

    def reset(self) -> None:
        """Close the breaker (a resumed batch starts counting afresh)."""
        self._client.delete(self._count, self._open)


class SharedFailureLimit:
    """``--max-failures``: once this many rows failed on all workers together, workers
    leave the batch's remaining rows pending (running ones finish)."""

    def __init__(self, client: redis.Redis, batch_id: str, limit: int) -> None:
        self._client = client
        self._count = _key(batch_id, "failed_rows")
        self.limit = limit

    @property
    def reached(self) -> bool:
        if not self.limit:
            return False
        try:
            return int(self._client.get(self._count) or 0) >= self.limit
        except redis.RedisError:
            return False

    def count_failure(self) -> bool:
        """Count one failed row; True for the failure that reached the limit."""
        if not self.limit:
            return False
        try:
            count = int(self._client.incr(self._count))
            self._client.expire(self._count, KEY_TTL_S)
        except redis.RedisError:
            return False
        return count == self.limit

    def reset(self) -> None:
        """A new run of the batch counts afresh (as in-process: per run)."""
        self._client.delete(self._count)


class PendingChecks:
    """How many needs_review rows sent to the workers for a ``verify:`` check are not
    checked yet: until none are, the batch is not settled (a check may send its row to
    be run). Expires with the other keys, so lost messages cannot hold a batch forever."""

    CHECK_TTL_S = 3600

    def __init__(self, client: redis.Redis, batch_id: str) -> None:
        self._client = client
        self._count = _key(batch_id, "pending_checks")

    def expect(self, count: int) -> None:
        if count:
            self._client.set(self._count, count, ex=self.CHECK_TTL_S)
        else:
            self._client.delete(self._count)

    def done(self) -> None:
        try:
            if int(self._client.decr(self._count)) <= 0:
                self._client.delete(self._count)
        except redis.RedisError as exc:
            logger.warning("a verify check was not counted (%s); its key expires", exc)

    @property
    def outstanding(self) -> bool:
        try:
            return int(self._client.get(self._count) or 0) > 0
        except redis.RedisError:
            return False
