"""Counting a running batch's jobs to feed progress callbacks (rate and ETA)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping

from batch.models import JobStatus, ProgressEvent

__all__ = ["ProgressCallback", "ProgressTracker"]

ProgressCallback = Callable[[ProgressEvent], None]

_DONE = (
    JobStatus.COMPLETED,
    JobStatus.FAILED,
    JobStatus.SKIPPED,
    JobStatus.CANCELLED,
    JobStatus.NEEDS_REVIEW,
)


class ProgressTracker:
    """Keeps the counts in memory; the store stays the source of truth."""

    def __init__(
        self,
        batch_id: str,
        initial: Mapping[JobStatus, int],
        concurrency: int,
        callback: ProgressCallback | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.batch_id = batch_id
        self.counts: Counter[JobStatus] = Counter(initial)
        self.total = sum(initial.values())
        self.concurrency = concurrency
        self.callback = callback
        self.clock = clock
        self.started = clock()
        self.finished_this_run = 0
        self.flaky = 0

    def job_started(self) -> None:
        self.counts[JobStatus.PENDING] -= 1
        self.counts[JobStatus.RUNNING] += 1

    def job_finished(self, job_id: str, status: JobStatus, *, flaky: bool = False) -> None:
        self.counts[JobStatus.RUNNING] -= 1
        self.counts[status] += 1
        self.finished_this_run += 1
        self.flaky += int(flaky)
        if self.callback is not None:
            self.callback(self.snapshot(job_id, status))

    def snapshot(self, job_id: str | None = None, status: JobStatus | None = None) -> ProgressEvent:
        elapsed = self.clock() - self.started
        done = sum(self.counts[s] for s in _DONE)
        rate = self.finished_this_run / elapsed if elapsed > 0 else 0.0
        remaining = self.total - done
        return ProgressEvent(
            batch_id=self.batch_id,
            total=self.total,
            done=done,
            completed=self.counts[JobStatus.COMPLETED],
            failed=self.counts[JobStatus.FAILED],
            skipped=self.counts[JobStatus.SKIPPED],
            flaky=self.flaky,
            running=self.counts[JobStatus.RUNNING],
            elapsed_s=elapsed,
            rate_per_s=rate,
            eta_s=remaining / rate if rate > 0 else None,
            concurrency=self.concurrency,
            last_job_id=job_id,
            last_status=status,
        )
