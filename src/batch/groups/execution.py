"""Running a group in this process: its batches at once, on one browser and one
concurrency budget (``batch.run.shared``), each with its own claims, retries and
reports; then the group's index report."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from batch.groups.report import write_group_reports
from batch.groups.summary import GroupSummary
from batch.run.concurrency import make_limiter, max_concurrency
from batch.run.execution import ConcurrencyLimiter
from batch.run.progress import ProgressCallback
from batch.run.shared import SharedRun, SharedSlots
from runtime.browser import BrowserManager

if TYPE_CHECKING:
    from batch.engine import BatchEngine

__all__ = ["run_group"]


async def run_group(
    engine: BatchEngine,
    group_id: str,
    progress: ProgressCallback | None = None,
    *,
    resume: bool = False,
) -> GroupSummary:
    """Execute every batch of the group at once; write its reports; its summary.
    ``resume``: each batch as ``resume_batch`` takes it (its cancelled rows too).

    A batch that raises (busy elsewhere, flow edited) does not stop the others: the
    first such error is raised once they are done and the reports are written."""
    group = engine.store.get_group(group_id)
    async with contextlib.AsyncExitStack() as stack:
        browser = None
        if engine.runner_factory is None and group.batch_ids:
            browser = await stack.enter_async_context(BrowserManager(engine.settings))
        adaptive = make_limiter(engine.settings)
        limiter: ConcurrencyLimiter
        if adaptive is not None:
            limiter = await stack.enter_async_context(adaptive)
        else:
            limiter = SharedSlots(max_concurrency(engine.settings))
        shared = SharedRun(browser, limiter)
        execute = engine.resume_batch if resume else engine.execute_batch_jobs
        results = await asyncio.gather(
            *(execute(b, progress, shared=shared) for b in group.batch_ids),
            return_exceptions=True,
        )
    summary = write_group_reports(engine, group_id)
    errors = [result for result in results if isinstance(result, BaseException)]
    if errors:
        raise errors[0]
    return summary
