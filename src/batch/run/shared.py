"""What the batches of one group share when they run in one process: one browser
and one concurrency budget.

Each batch's execution keeps its own workers, claims, retries and reports; its
workers take a slot of the shared limiter before each job, so the group as a whole
never runs more jobs at once than one batch would alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from batch.run.execution import ConcurrencyLimiter
from runtime.browser import BrowserManager

__all__ = ["SharedRun", "SharedSlots"]


class SharedSlots:
    """A fixed number of jobs at once across every batch that holds this limiter."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._semaphore = asyncio.Semaphore(limit)

    @property
    def limit(self) -> int:
        return self._limit

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._semaphore:
            yield


@dataclass(frozen=True)
class SharedRun:
    """The browser (None when the engine has a runner factory) and the limiter of a
    group's run; their lifetime is the group's."""

    browser: BrowserManager | None
    limiter: ConcurrencyLimiter
