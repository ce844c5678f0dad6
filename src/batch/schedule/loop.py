"""``run_scheduler``: the loop ``batchwright serve`` runs in its lifespan.

Every ``interval`` seconds it ticks the scheduler with the clock's time and, when
the ``retention_days`` setting is on, prunes old batches once a day. A failing tick
(the store unreachable for a while) is logged and the loop goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from batch.schedule.retention import apply_retention
from batch.schedule.scheduler import Scheduler, utc_now
from batch.settings import BatchSettings
from batch.store import ManifestStore

__all__ = ["DailyRetention", "run_scheduler"]

logger = logging.getLogger("batchwright.schedule")


class DailyRetention:
    """``apply_retention`` at most once a day (the first call applies it)."""

    def __init__(self, settings: BatchSettings) -> None:
        self.settings = settings
        self.last: datetime | None = None

    def maybe_apply(self, store: ManifestStore, now: datetime) -> bool:
        """Prune if retention is on and a day passed since the last prune; whether it did."""
        if self.settings.retention_days is None:
            return False
        if self.last is not None and now - self.last < timedelta(days=1):
            return False
        self.last = now
        result = apply_retention(store, self.settings, now)
        if result is not None and (result.removed or result.leftover_folders):
            logger.info(
                "retention: %d batch(es), %d group(s) and %d leftover folder(s) pruned, "
                "%d bytes freed",
                len(result.removed), len(result.removed_groups), len(result.leftover_folders),
                result.bytes_freed,
            )  # fmt: skip
        return True


async def run_scheduler(
    scheduler: Scheduler,
    stop_event: asyncio.Event,
    interval: float = 30.0,
    *,
    retention: DailyRetention | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> None:
    """Tick until ``stop_event`` is set; a tick's error is logged, never fatal."""
    while not stop_event.is_set():
        now = clock()
        try:
            await scheduler.tick(now)
            if retention is not None:
                await asyncio.to_thread(retention.maybe_apply, scheduler.store, now)
        except Exception:  # the loop outlives a bad tick (a store restarting)
            logger.exception("scheduler tick failed; next one in %g s", interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop_event.wait(), timeout=interval)
