"""Launchers: what the ``Scheduler`` does with a batch it fired.

``run_in_process`` runs it (or every batch of a fired group, on one browser) to
its end on the caller's loop (``schedule run-due``, tests); ``in_background`` wraps
a launcher so that a tick returns at once (the service); ``on_workers`` hands the
rows to ``batchwright worker`` processes at the schedule's priority and follows the
batch (or the group's batches) until it settles, its reports written.
"""

from __future__ import annotations

import asyncio
import logging

from batch.schedule.scheduler import Launch, Launcher

__all__ = ["in_background", "on_workers", "run_in_process"]

logger = logging.getLogger("batchwright.schedule")


async def run_in_process(launch: Launch) -> None:
    """Execute the batch (or the group) here, reports written; the engine is closed
    afterwards."""
    try:
        if launch.group_id is not None:
            await launch.engine.execute_group(launch.group_id)
        else:
            await launch.engine.execute_batch_jobs(launch.batch_ids[0])
    finally:
        launch.engine.close()


def on_workers(queue: str = "batchwright") -> Launcher:
    """A launcher sending the batch's rows (every batch's, for a group) to the workers
    on ``queue`` with the schedule's priority, then following them until they settle
    (status, reports; a group's index too). Celery is imported at the first launch,
    so a host without workers never loads it."""

    async def launch_on_workers(launch: Launch) -> None:
        from batch.distributed.dispatch import DistributedRun  # noqa: PLC0415 - Celery on demand
        from batch.groups.workers import GroupOnWorkers  # noqa: PLC0415 - Celery on demand

        try:
            if launch.group_id is not None:
                group = GroupOnWorkers(
                    launch.engine, launch.group_id, priority=launch.priority, queue=queue
                )
                group.submit()
                await group.follow()
                return
            run = DistributedRun(
                launch.engine, launch.batch_ids[0], priority=launch.priority, queue=queue
            )
            run.submit()
            await run.attach()
        finally:
            launch.engine.close()

    return launch_on_workers


def in_background(launcher: Launcher) -> Launcher:
    """``launcher`` as a task of the running loop: the scheduler's tick does not wait
    for the batch. A failure is logged (the slot already says ``fired``)."""
    running: set[asyncio.Task[None]] = set()

    async def start(launch: Launch) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(launcher(launch))
        running.add(task)
        task.add_done_callback(lambda done: _finished(done, running, launch))

    return start


def _finished(task: asyncio.Task[None], running: set[asyncio.Task[None]], launch: Launch) -> None:
    running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error(
            "scheduled batch %s (schedule %s) failed: %s",
            launch.fired_id, launch.schedule, task.exception(),
        )  # fmt: skip
