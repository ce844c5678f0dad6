"""A group on the workers: every batch of the group handed to ``batchwright worker``
processes at one priority, followed until each settles, then the group's reports.

Used by ``run``/``resume``/``retry`` of a group with a broker and by the scheduler's
``on_workers`` launcher. Celery is imported when one is made, never before.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from batch.groups.report import write_group_reports
from batch.groups.summary import GroupSummary
from batch.run.progress import ProgressCallback
from batch.settings import Priority

if TYPE_CHECKING:
    from batch.engine import BatchEngine

__all__ = ["GroupOnWorkers"]


class GroupOnWorkers:
    """One ``DistributedRun`` per batch of the group (those present in the store)."""

    def __init__(
        self, engine: BatchEngine, group_id: str, *, priority: Priority, queue: str
    ) -> None:
        from batch.distributed.dispatch import DistributedRun  # noqa: PLC0415 - Celery on demand

        self.engine = engine
        self.group_id = group_id
        batch_ids = engine.store.get_group(group_id).batch_ids
        self.runs = [
            DistributedRun(engine, batch_id, priority=priority, queue=queue)
            for batch_id in batch_ids
        ]

    def submit(self) -> int:
        """Publish the rows of every batch; how many were sent."""
        return sum(run.submit() for run in self.runs)

    def cancel(self) -> None:
        """Ask the workers to stop taking the group's rows (running ones finish)."""
        for run in self.runs:
            run.cancel()

    async def follow(self, progress: ProgressCallback | None = None) -> GroupSummary:
        """Follow every batch until it settles; then write the group's reports."""
        await asyncio.gather(*(run.attach(progress) for run in self.runs))
        return write_group_reports(self.engine, self.group_id)
