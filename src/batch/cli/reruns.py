"""``resume``, ``retry`` and ``cancel``: of a batch, or of every batch of a group
(given its id), the group's batches run together as ``run`` runs them, here or on
the workers, with one exit code for the group (docs/groups.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import typer

from batch.cli.app import (  # the commands' shared helpers, kept in app.py beside `run`
    _finish,
    _on_workers,
    _run_with_signals,
    _use_workers,
    engine,
    err,
    handle_errors,
    out,
)
from batch.cli.global_options import with_global_options
from batch.cli.groups import rerun_group_command
from batch.cli.options import (
    BaseUrlOpt,
    ConcurrencyOpt,
    DelayOpt,
    DetachOpt,
    HeadedOpt,
    IsolationOpt,
    JsonOpt,
    MaxFailuresOpt,
    ProgressOpt,
    QueueOpt,
    QuietOpt,
    RateOpt,
    RetriesOpt,
    TraceOpt,
    WorkersOpt,
    exec_config,
    progress_mode,
)
from batch.engine import BatchEngine
from batch.groups import GroupSummary, cancel_group, resume_group, retry_group
from batch.models import JobStatus
from batch.reports.summary import BatchSummary
from batch.run.progress import ProgressCallback
from runtime.outcome import ErrorCategory

__all__ = ["cancel", "resume", "retry"]

IdArg = Annotated[str, typer.Argument(help="A batch id, or a group id (every batch of it).")]


@with_global_options
@handle_errors
def resume(
    batch_id: IdArg,
    concurrency: ConcurrencyOpt = None,
    retries: RetriesOpt = None,
    headed: HeadedOpt = False,
    base_url: BaseUrlOpt = None,
    trace: TraceOpt = None,
    isolation: IsolationOpt = None,
    rate: RateOpt = None,
    delay: DelayOpt = None,
    max_failures: MaxFailuresOpt = None,
    workers: WorkersOpt = False,
    detach: DetachOpt = False,
    queue: QueueOpt = "batchwright",
    progress: ProgressOpt = "auto",
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Run what a stopped or crashed batch (or group) left: pending, cancelled and
    interrupted rows."""
    with engine(
        **exec_config(
            concurrency, retries, headed, base_url, trace, rate, delay, isolation, max_failures
        )
    ) as batch_engine:
        mode = progress_mode(progress, quiet, json_)
        on_workers = _use_workers(batch_engine, workers, detach=detach)

        def requeue(batch: str) -> None:
            batch_engine.store.requeue(batch, [JobStatus.CANCELLED])
            batch_engine.store.clear_cancel(batch)

        _rerun(
            batch_engine,
            batch_id,
            mode,
            lambda cb: resume_group(batch_engine, batch_id, cb),
            lambda cb: batch_engine.resume_batch(batch_id, cb),
            requeue,
            on_workers=on_workers,
            detach=detach,
            queue=queue,
        )


@with_global_options
@handle_errors
def retry(
    batch_id: IdArg,
    job: Annotated[list[str] | None, typer.Option("--job", help="Only this job id.")] = None,
    category: Annotated[
        list[ErrorCategory] | None, typer.Option(help="Only failures of this category.")
    ] = None,
    retries: RetriesOpt = None,
    concurrency: ConcurrencyOpt = None,
    headed: HeadedOpt = False,
    base_url: BaseUrlOpt = None,
    isolation: IsolationOpt = None,
    max_failures: MaxFailuresOpt = None,
    workers: WorkersOpt = False,
    detach: DetachOpt = False,
    queue: QueueOpt = "batchwright",
    progress: ProgressOpt = "auto",
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Re-run the failed rows of a batch, or of every batch of a group (all, or some
    ids or categories)."""
    config = exec_config(
        concurrency, retries, headed, base_url, None, isolation=isolation, max_failures=max_failures
    )
    with engine(**config) as batch_engine:
        mode = progress_mode(progress, quiet, json_)
        on_workers = _use_workers(batch_engine, workers, detach=detach)

        def requeue(batch: str) -> None:
            batch_engine.store.requeue(batch, [JobStatus.FAILED], job_ids=job, categories=category)

        _rerun(
            batch_engine,
            batch_id,
            mode,
            lambda cb: retry_group(
                batch_engine, batch_id, job, categories=category, max_retries=retries, progress=cb
            ),
            lambda cb: batch_engine.retry_batch_jobs(
                batch_id, job, categories=category, max_retries=retries, progress_callback=cb
            ),
            requeue,
            on_workers=on_workers,
            detach=detach,
            queue=queue,
        )


def _rerun(
    batch_engine: BatchEngine,
    batch_id: str,
    mode: str,
    group_work: Callable[[ProgressCallback], Awaitable[GroupSummary]],
    batch_work: Callable[[ProgressCallback], Awaitable[BatchSummary]],
    requeue: Callable[[str], object],
    *,
    on_workers: bool,
    detach: bool,
    queue: str,
) -> None:
    """A group id: every batch of it, one exit code; a batch id: that batch. Here, or
    ``requeue`` readies the rows for the workers, which then take them."""
    if batch_engine.store.find_group(batch_id) is not None:
        raise typer.Exit(
            rerun_group_command(
                batch_engine, batch_id, mode, group_work, requeue,
                on_workers=on_workers, detach=detach, queue=queue, consoles=(out, err),
                run_locally=_run_with_signals,
            )
        )  # fmt: skip
    if on_workers:
        requeue(batch_id)
        _on_workers(batch_engine, batch_id, mode, detach=detach, queue=queue)
        return
    _finish(batch_engine, _run_with_signals(batch_engine, batch_work, mode), mode)


@with_global_options
@handle_errors
def cancel(batch_id: IdArg) -> None:
    """Ask the engine running BATCH_ID (in any process) to stop; it stays resumable.
    Given a group id: every batch of the group."""
    with engine() as batch_engine:
        if batch_engine.store.find_group(batch_id) is None:
            batch_engine.cancel_batch(batch_id)
            out.print(
                f"cancel requested for {batch_id}; `batchwright resume {batch_id}` continues it"
            )
            return
        for batch in cancel_group(batch_engine, batch_id):
            out.print(f"cancel requested for {batch}", highlight=False)
    out.print(f"`batchwright resume {batch_id}` continues the group", highlight=False)
