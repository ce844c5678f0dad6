"""The sending side: ``run --workers`` records how the batch runs, publishes one
message per pending job, then (unless detached) follows the batch in the store
with the same progress display, recovering lost workers' jobs meanwhile, and
finalizes it when nothing is left: status and one merged report.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Mapping

from celery import Celery

from batch.distributed.celery_app import QUEUE, make_app
from batch.distributed.limits import (
    PendingChecks,
    SharedBreaker,
    SharedFailureLimit,
    broker_reachable,
    redis_client,
)
from batch.distributed.sweep import finalize, recover_lost_workers, republish_pending
from batch.engine import BatchEngine
from batch.models import BatchStatus, JobStatus
from batch.reports.summary import BatchSummary
from batch.run.ownership import new_owner_id, refuse_live_holder
from batch.run.progress import ProgressCallback, ProgressTracker
from batch.settings import Priority
from runtime.errors import ConfigurationError

__all__ = ["RUN_SETTINGS", "DistributedRun"]

logger = logging.getLogger("batchwright.distributed")

RECOVER_EVERY = 4
"""Polls between two looks for lost workers' jobs (2 s at the default 0.5 s poll)."""

RUN_SETTINGS = frozenset(
    {
        "max_retries", "retry_delay", "backoff_factor", "max_delay", "jitter", "retry_on",
        "rate", "delay_s", "circuit_breaker", "job_timeout_s", "step_timeout_s", "trace",
        "trace_secrets", "isolation", "recycle_context_every", "screenshot_on_failure",
        "html_on_failure", "max_failures",
    }
)  # fmt: skip
"""Settings of the run that workers apply to the batch (browser and paths are theirs)."""


class DistributedRun:
    """One batch handed to the workers, followed from this process."""

    def __init__(
        self,
        engine: BatchEngine,
        batch_id: str,
        *,
        priority: Priority = "normal",
        queue: str = QUEUE,
        poll_s: float = 0.5,
    ) -> None:
        if not engine.settings.broker_url:
            raise ConfigurationError(
                "--workers needs a broker: set BATCH_BROKER_URL (e.g. redis://localhost:6379/0)"
            )
        self.engine = engine
        self.store = engine.store
        self.batch_id = batch_id
        self.priority = priority
        self.queue = queue
        self.poll_s = poll_s
        self.owner = new_owner_id()
        self.app: Celery = make_app(engine.settings)
        self.redis = redis_client(engine.settings.broker_url)
        self.breaker = SharedBreaker(self.redis, batch_id, engine.settings.circuit_breaker)
        self.failures = SharedFailureLimit(self.redis, batch_id, engine.settings.max_failures)
        self.checks = PendingChecks(self.redis, batch_id)

    def submit(self) -> int:
        """Record the run settings, then publish every pending job, and a check of every
        needs_review job (settled by the flow's verify steps, if it has any); how many
        pending jobs were sent."""
        refuse_live_holder(self.store, self.batch_id, self.owner)
        settings = self.engine.settings
        run_settings = settings.model_dump(mode="json", include=set(RUN_SETTINGS))
        record = {"priority": self.priority, "queue": self.queue, "settings": run_settings}
        self.store.record_run_settings(
            self.batch_id, {"workers": record, "concurrency": "workers", "stop_reason": None}
        )
        self.breaker.reset()
        self.failures.reset()
        self.store.set_batch_status(self.batch_id, BatchStatus.RUNNING)
        # as in-process: a lost engine's rows are recovered (re-run or needs_review),
        # then needs_review rows are checked before the batch can settle
        recover_lost_workers(self.store, self.batch_id, self.owner)
        review = self.store.count_by_status(self.batch_id).get(JobStatus.NEEDS_REVIEW, 0)
        self.checks.expect(review)  # counted before a fast worker can check one
        republish_pending(self.app, self.store, self.batch_id, JobStatus.NEEDS_REVIEW)
        return republish_pending(self.app, self.store, self.batch_id)

    def cancel(self) -> None:
        """Ask every worker to stop taking this batch's rows (running ones finish)."""
        self.store.request_cancel(self.batch_id)

    async def attach(
        self, progress: ProgressCallback | None = None, *, stall_s: float | None = None
    ) -> BatchSummary:
        """Follow the batch until it settles; return its summary (reports written).

        ``stall_s``: pending rows with nothing running and no change for this long
        lost their messages (a worker killed holding delayed retries): publish again.
        """
        settings = self.engine.settings
        stall = stall_s or settings.lease_s + settings.max_delay
        initial = self.store.count_by_status(self.batch_id)
        tracker = ProgressTracker(self.batch_id, initial, 0, progress)
        already_done = tracker.snapshot().done
        last: Mapping[JobStatus, int] = initial
        changed_at = time.monotonic()
        broker_was_up = True
        polls = 0
        while True:
            counts = self.store.count_by_status(self.batch_id)
            held = (
                self.breaker.open
                or self.failures.reached
                or self.store.cancel_requested(self.batch_id)
            )
            summary = finalize(
                self.store,
                self.batch_id,
                settings,
                self.owner,
                held=held,
                checking=self.checks.outstanding,
            )
            if summary is not None:
                self._show(tracker, counts, already_done)
                return summary
            if counts != last:
                last, changed_at = counts, time.monotonic()
                self._show(tracker, counts, already_done)
            broker_up = broker_reachable(self.redis)
            polls += 1
            # a write transaction: every few polls is soon enough next to a lease
            lost = polls % RECOVER_EVERY == 0 and bool(
                recover_lost_workers(self.store, self.batch_id, self.owner)
            )
            stalled = not counts.get(JobStatus.RUNNING) and time.monotonic() - changed_at > stall
            # back from an outage, the broker may have lost its queue: publish again
            if broker_up and (lost or (not held and stalled) or not broker_was_up):
                broker_up = self._republish()
                changed_at = time.monotonic()
            broker_was_up = broker_up
            await asyncio.sleep(self.poll_s)

    def _republish(self) -> bool:
        """Publish the pending jobs again; False if the broker went away meanwhile."""
        try:
            republish_pending(self.app, self.store, self.batch_id)
        except Exception as exc:  # kombu's OperationalError, redis' ConnectionError
            logger.warning("batch %s: broker unreachable (%s); retrying", self.batch_id, exc)
            return False
        return True

    @staticmethod
    def _show(tracker: ProgressTracker, counts: Mapping[JobStatus, int], done_before: int) -> None:
        tracker.counts = Counter(counts)
        snapshot = tracker.snapshot()
        tracker.finished_this_run = snapshot.done - done_before
        tracker.concurrency = counts.get(JobStatus.RUNNING, 0)
        if tracker.callback is not None:
            tracker.callback(tracker.snapshot())
