"""Resuming, retrying and cancelling a whole group: what ``resume``, ``retry`` and
``cancel`` do for a batch, done to every batch of the group (those a prune left).

Resuming and retrying run the batches together on one browser and one concurrency
budget, as a group's first run does (``run_group``), and write the group's reports.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from batch.groups.execution import run_group
from batch.groups.summary import GroupSummary
from batch.run.progress import ProgressCallback
from runtime.outcome import ErrorCategory

if TYPE_CHECKING:
    from batch.engine import BatchEngine

__all__ = ["cancel_group", "requeue_group_failures", "resume_group", "retry_group"]


async def resume_group(
    engine: BatchEngine, group_id: str, progress: ProgressCallback | None = None
) -> GroupSummary:
    """Pick up what each batch of the group left (pending, cancelled, interrupted rows)."""
    return await run_group(engine, group_id, progress, resume=True)


def requeue_group_failures(
    engine: BatchEngine,
    group_id: str,
    job_ids: Collection[str] | None = None,
    *,
    categories: Collection[ErrorCategory] | None = None,
    max_retries: int | None = None,
) -> int:
    """Re-queue the failed rows of every batch (``retry_batch_jobs``, not run yet);
    how many were re-queued in all."""
    return sum(
        engine.retry_batch_jobs(
            batch_id, job_ids, categories=categories, max_retries=max_retries
        ).requeued
        for batch_id in engine.store.get_group(group_id).batch_ids
    )


async def retry_group(
    engine: BatchEngine,
    group_id: str,
    job_ids: Collection[str] | None = None,
    *,
    categories: Collection[ErrorCategory] | None = None,
    max_retries: int | None = None,
    progress: ProgressCallback | None = None,
) -> GroupSummary:
    """Re-run the failed rows of every batch of the group (all, or only ``job_ids`` or
    ``categories``), the batches together; the group's summary."""
    requeue_group_failures(
        engine, group_id, job_ids, categories=categories, max_retries=max_retries
    )
    return await run_group(engine, group_id, progress)


def cancel_group(engine: BatchEngine, group_id: str) -> list[str]:
    """Ask whoever runs each batch of the group to stop; the batches asked."""
    batch_ids = engine.store.get_group(group_id).batch_ids
    for batch_id in batch_ids:
        engine.cancel_batch(batch_id)
    return batch_ids
