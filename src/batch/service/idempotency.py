"""``Idempotency-Key`` in flight: requests with the same key (and caller) one at a time.

The store remembers a key once its request has made something (``IdempotencyStore``);
until then a second request with the same key waits here, then finds the first one's
answer and replays it instead of making a second batch (or group).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["one_at_a_time"]

_LOCKS: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}
"""Per (key id, Idempotency-Key) in flight: a lock and how many requests hold or await it."""


@asynccontextmanager
async def one_at_a_time(key_id: str, idempotency_key: str) -> AsyncIterator[None]:
    """Hold the key's lock; the last request out forgets it (the store remembers)."""
    slot = (key_id, idempotency_key)
    lock, users = _LOCKS.get(slot, (asyncio.Lock(), 0))
    _LOCKS[slot] = (lock, users + 1)
    try:
        async with lock:
            yield
    finally:
        lock, users = _LOCKS[slot]
        if users == 1:
            del _LOCKS[slot]
        else:
            _LOCKS[slot] = (lock, users - 1)
