"""Keeping a distributed batch moving, from any process that reaches the store and
the broker (the attached ``run`` and every worker's heartbeat do it):

- a lost worker's running jobs go back to pending once its lease expires (or at
  once when its process is surely gone on this host), or to needs_review past an
  unsafe commit step: the same rule as a local crash;
- pending jobs that no message will reach any more (a lost worker's reserved or
  delayed messages) are published again; a duplicate finds them claimed or done;
- a batch with nothing left to run is finalized once: status and merged reports.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from celery import Celery

from batch.distributed.celery_app import QUEUE, VERIFY_ATTEMPT, publish_job
from batch.engine import BatchEngine
from batch.models import BatchStatus, JobStatus
from batch.reports.summary import BatchSummary
from batch.run.ownership import FINALIZE_SUFFIX, owner_is_dead
from batch.settings import BatchSettings
from batch.store import ManifestStore
from runtime.run_context import RunContext

__all__ = ["finalize", "recover_lost_workers", "republish_pending", "workers_record"]

logger = logging.getLogger("batchwright.distributed")

FINALIZE_LEASE_S = 120.0


def workers_record(manifest_settings: Mapping[str, Any]) -> dict[str, Any]:
    """What ``run --workers`` recorded for the workers (priority, queue, settings)."""
    record = manifest_settings.get("workers")
    return dict(record) if isinstance(record, dict) else {}


def recover_lost_workers(store: ManifestStore, batch_id: str, me: str) -> int:
    """Interrupted jobs of lost workers: pending (re-run) or needs_review; how many."""
    moved = 0
    for owner in store.running_owners(batch_id):
        if owner_is_dead(owner, me):
            to_pending, to_review = store.release_owner(owner)
            moved += to_pending + to_review
    to_pending, to_review = store.requeue_stale(batch_id)
    moved += to_pending + to_review
    if moved:
        logger.warning("batch %s: %d job(s) of a lost worker recovered", batch_id, moved)
    return moved


def republish_pending(
    app: Celery, store: ManifestStore, batch_id: str, status: JobStatus = JobStatus.PENDING
) -> int:
    """A message for every job of the batch in ``status``, at the batch's priority: pending
    jobs to run, or needs_review jobs to check with the flow's verify steps (a worker
    without them leaves the row as it is)."""
    record = workers_record(store.get_manifest(batch_id).settings)
    attempt = VERIFY_ATTEMPT if status is JobStatus.NEEDS_REVIEW else 1
    sent = 0
    for job_id in store.iter_job_ids(batch_id, [status]):
        publish_job(
            app,
            batch_id,
            job_id,
            run_attempt=attempt,
            priority=record.get("priority", "normal"),
            queue=record.get("queue", QUEUE),
        )
        sent += 1
    return sent


def finalize(
    store: ManifestStore,
    batch_id: str,
    settings: BatchSettings,
    owner: str,
    *,
    held: bool,
    checking: bool = False,
) -> BatchSummary | None:
    """Settle the batch's status and write its one merged report, if nothing is left to
    run (``checking``: verify checks are outstanding, which may send rows to run); a
    batch lease makes one process do it at a time. None: not settled yet."""
    unsettled = [JobStatus.RUNNING] if held else [JobStatus.RUNNING, JobStatus.PENDING]
    if checking or store.has_jobs_in(batch_id, unsettled):
        return None
    lock = f"{owner}{FINALIZE_SUFFIX}"
    if not store.acquire_batch(batch_id, lock, FINALIZE_LEASE_S):
        return None
    try:
        if store.cancel_requested(batch_id):
            store.cancel_pending(batch_id)
            store.clear_cancel(batch_id)
        counts = store.count_by_status(batch_id)
        unfinished = counts.get(JobStatus.PENDING, 0) + counts.get(JobStatus.CANCELLED, 0)
        status = BatchStatus.INTERRUPTED if unfinished else BatchStatus.FINISHED
        store.set_batch_status(batch_id, status)
        engine = BatchEngine(RunContext(settings), store=store)
        return engine.write_reports(batch_id)
    finally:
        store.release_owner(lock)
