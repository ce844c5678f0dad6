"""The webhook watcher: a background task of the service that turns batches stopping
(seen in the store, whoever ran them) into deliveries and sends those due.

Each tick: create the deliveries stopped batches owe (unique per subscription, batch
and event: two service processes create each once), claim the due ones (a lease in
the store: one process sends each), send them concurrently, record every attempt. A
delivery left claimed by a process that died is resumed once its lease expires.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx

from batch.notify.delivery import RetryPolicy, send
from batch.store._webhooks import ClaimedDelivery, WebhookStore

__all__ = ["WebhookWatcher"]

_log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class WebhookWatcher:
    """Polls the store every ``poll_s``; ``run`` until cancelled, ``tick`` for one pass."""

    def __init__(
        self,
        hooks: WebhookStore,
        *,
        policy: RetryPolicy,
        poll_s: float = 2.0,
        timeout_s: float = 10.0,
        lease_s: float = 60.0,
        clock: Callable[[], datetime] = _now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.hooks = hooks
        self.policy = policy
        self.poll_s = poll_s
        self.lease_s = max(lease_s, timeout_s * 2)
        self.clock = clock
        self.sleep = sleep
        self.owner = f"{socket.gethostname()}:{uuid.uuid4().hex[:12]}"
        self._client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)

    async def run(self) -> None:
        """Tick forever; a failing tick is logged and the next one tries again."""
        try:
            while True:
                try:
                    await self.tick()
                except Exception:
                    _log.exception("webhook watcher tick failed")
                await self.sleep(self.poll_s)
        finally:
            await self.close()

    async def tick(self) -> int:
        """One pass; returns the attempts made."""
        now = self.clock()
        await asyncio.to_thread(self.hooks.enqueue_due, now)
        due = await asyncio.to_thread(self.hooks.claim_due, self.owner, now, self.lease_s)
        await asyncio.gather(*(self._deliver(delivery) for delivery in due))
        return len(due)

    async def _deliver(self, delivery: ClaimedDelivery) -> None:
        attempt, state = await send(self._client, delivery, self.policy, now=self.clock())
        recorded = await asyncio.to_thread(self.hooks.record, delivery, self.owner, attempt, state)
        if attempt.error:  # no URL query, no header, no secret: the id says which
            _log.warning(
                "webhook delivery %s (%s, attempt %d) failed: %s",
                delivery.delivery_id,
                delivery.event,
                attempt.number,
                attempt.error,
            )
        if not recorded:
            _log.warning(
                "webhook delivery %s: claim lost, attempt not recorded", delivery.delivery_id
            )

    async def close(self) -> None:
        """Close the HTTP client and give up this process's claims."""
        await self._client.aclose()
        await asyncio.to_thread(self.hooks.release, self.owner)
