"""``run`` on workers: hand the batch (or each batch of a group) to ``batchwright
worker`` processes and follow it.

Kept apart from ``app.py`` so a local run never imports Celery.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from rich.console import Console

from batch.cli.displays import make_group_progress, make_progress
from batch.engine import BatchEngine
from batch.groups import GroupSummary
from batch.groups.workers import GroupOnWorkers
from batch.reports.summary import BatchSummary

__all__ = ["follow_group_on_workers", "follow_on_workers"]


def follow_on_workers(
    batch_engine: BatchEngine,
    batch_id: str,
    progress_mode: str,
    *,
    detach: bool,
    queue: str,
    err: Console,
) -> BatchSummary | None:
    """Publish the batch's rows; unless ``detach``, follow it to the end (None if
    detached). First Ctrl-C: the workers stop taking its rows (running ones finish)
    and the batch ends interrupted; a second one stops following at once."""
    from batch.distributed.dispatch import DistributedRun  # noqa: PLC0415 - Celery on demand

    distributed = DistributedRun(
        batch_engine, batch_id, priority=batch_engine.settings.priority, queue=queue
    )
    sent = distributed.submit()
    if detach:
        return None
    if progress_mode != "json":
        err.print(f"{sent} rows sent to the workers (Ctrl-C asks them to stop)")

    async def main() -> BatchSummary:
        follow = asyncio.current_task()
        presses = 0

        def on_sigint() -> None:
            nonlocal presses
            presses += 1
            if presses == 1:
                err.print("stopping: the workers finish their running rows (Ctrl-C again: leave)")
                distributed.cancel()
            elif follow is not None:
                follow.cancel()

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, on_sigint)
        loop.add_signal_handler(signal.SIGTERM, on_sigint)
        with make_progress(progress_mode, sys.stdout) as progress:  # type: ignore[arg-type]
            return await distributed.attach(progress)

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None  # second Ctrl-C: the batch stays resumable


def follow_group_on_workers(
    batch_engine: BatchEngine,
    group_id: str,
    progress_mode: str,
    labels: dict[str, str],
    totals: dict[str, int],
    *,
    detach: bool,
    queue: str,
    err: Console,
) -> GroupSummary | None:
    """Publish the rows of every batch of the group; unless ``detach``, follow them all
    to the end and write the group's reports (None if detached). Ctrl-C as above."""
    on_workers = GroupOnWorkers(
        batch_engine, group_id, priority=batch_engine.settings.priority, queue=queue
    )
    sent = on_workers.submit()
    if detach:
        return None
    if progress_mode != "json":
        err.print(
            f"{sent} rows of {len(on_workers.runs)} batches sent to the workers "
            "(Ctrl-C asks them to stop)"
        )

    async def main() -> GroupSummary:
        follow = asyncio.current_task()
        presses = 0

        def on_sigint() -> None:
            nonlocal presses
            presses += 1
            if presses == 1:
                err.print("stopping: the workers finish their running rows (Ctrl-C again: leave)")
                on_workers.cancel()
            elif follow is not None:
                follow.cancel()

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, on_sigint)
        loop.add_signal_handler(signal.SIGTERM, on_sigint)
        sink = make_group_progress(progress_mode, sys.stdout, group_id, labels, totals)  # type: ignore[arg-type]
        with sink as progress:
            return await on_workers.follow(progress)

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None  # second Ctrl-C: the batches stay resumable
