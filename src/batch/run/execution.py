"""Executing a batch: claim pending jobs, run them with bounded concurrency,
retry what the policy allows, and record every attempt durably.

Stopping: ``stop()`` (first Ctrl-C, or ``batchwright cancel`` from another
process) stops scheduling and lets running jobs finish; ``abort()`` (second
Ctrl-C) cancels running jobs too. Either way the batch stays resumable.

Attempts run behind the seam of ``runtime.runners.base``: any ``JobRunner`` (local,
remote, the scripted fake of the tests), with commit marks recorded in the store by
``StoreCommitRecorder``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Protocol

from tenacity import retry_if_result

from batch.exceptions import InvalidTransitionError
from batch.models import AttemptRecord, BatchJob, BatchStatus, JobStatus
from batch.reports.summary import mask_secrets
from batch.run.heartbeat import Heartbeat
from batch.run.ownership import new_owner_id, owner_host, owner_is_dead
from batch.run.pool_leases import PoolLease, PoolLeaser, leased_attempt
from batch.run.progress import ProgressCallback, ProgressTracker
from batch.run.retry import RetryPolicy, Sleep
from batch.run.throttle import CircuitBreaker, RateLimiter
from batch.store import ManifestStore
from runtime.flows.pools import PoolSpec
from runtime.outcome import AttemptOutcome, ErrorCategory, JobSpec, SettingValue
from runtime.runners.base import RunnerFactory

__all__ = [
    "BatchExecution",
    "ConcurrencyLimiter",
    "ExecutionOptions",
    "StoreCommitRecorder",
    "attempt_record",
    "masked_outcome",
    "settle_verified",
]

logger = logging.getLogger("batchwright.execution")


class ConcurrencyLimiter(Protocol):
    """Decides how many of the workers may run a job at once (adaptive concurrency)."""

    @property
    def limit(self) -> int:
        """The number of jobs currently allowed at once."""
        ...

    def slot(self) -> AbstractAsyncContextManager[None]:
        """Held while one job is claimed and run."""
        ...


@dataclass(frozen=True)
class ExecutionOptions:
    concurrency: int
    idempotent: bool = True
    """False: a job interrupted after its commit step waits in needs_review."""
    lease_s: float = 30.0
    """A running job whose owner stops renewing this long is considered interrupted."""
    poll_interval_s: float = 1.0
    """How often to renew leases and look for a cancel request from another process."""
    limiter: ConcurrencyLimiter | None = None
    """Varies the jobs at once between 1 and ``concurrency`` (None: always ``concurrency``)."""
    rate_limiter: RateLimiter | None = None
    """Spaces job starts across all workers (``--rate``)."""
    delay_s: float = 0.0
    """Each worker's pause between two jobs (``--delay``)."""
    circuit_breaker: int = 0
    """Consecutive transient failures that stop the batch (0: never)."""
    max_failures: int = 0
    """Failed rows (final failures, not attempts) of this run that stop the batch (0: never)."""
    secrets: tuple[str, ...] = ()
    """Columns whose values are masked in everything recorded about a job."""
    verify: bool = False
    """The flow has ``verify:`` steps: settle unknown outcomes by checking the target."""
    flow_hash: str = ""
    """The content hash of the batch's flow, sent with every spec (empty: unchecked)."""
    runtime_settings: Mapping[str, SettingValue] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """The attempt settings sent with every spec (``runners.base.attempt_settings``)."""
    pools: tuple[PoolSpec, ...] = ()
    """The flow's pools: each attempt leases an entry of each (``pool_leases``)."""


class StoreCommitRecorder:
    """The ``CommitRecorder`` of this process's executions: the mark is a committed
    store transaction, fenced by the attempt token of the job's claim (a stale attempt
    is refused with ``StoreError``, so it cannot pass its point of no return).

    Idempotent flows are safe to repeat, so for them there is nothing to record.
    """

    def __init__(self, store: ManifestStore, *, idempotent: bool) -> None:
        self.store = store
        self.idempotent = idempotent
        self._tokens: dict[str, str] = {}
        self._marked: set[str] = set()

    def claimed(self, job_id: str, token: str) -> None:
        """This process now runs ``job_id`` under ``token``."""
        self._tokens[job_id] = token

    def released(self, job_id: str) -> None:
        self._tokens.pop(job_id, None)
        self._marked.discard(job_id)

    def passed_commit(self, job_id: str) -> bool:
        """The job passed its commit mark since this process claimed it (only recorded,
        and so only ever true, for flows that are not idempotent)."""
        return job_id in self._marked

    async def mark_committed(self, spec: JobSpec) -> None:
        if self.idempotent:
            return
        self.store.mark_reached_commit(spec.job_id, self._tokens[spec.job_id])
        self._marked.add(spec.job_id)


class BatchExecution:
    """One run of one batch by this process."""

    def __init__(
        self,
        store: ManifestStore,
        batch_id: str,
        runner: RunnerFactory,
        policy: RetryPolicy,
        options: ExecutionOptions,
        *,
        owner: str | None = None,
        sleep: Sleep = asyncio.sleep,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.store = store
        self.batch_id = batch_id
        self.commits = StoreCommitRecorder(store, idempotent=options.idempotent)
        self.runner = runner(self.commits)
        self.policy = policy
        self.options = options
        self.owner = owner or new_owner_id()
        self.sleep = sleep
        self.progress = progress
        self._stopping = asyncio.Event()
        self._cancelled_by_request = False
        self._workers: list[asyncio.Task[None]] = []
        self.breaker = CircuitBreaker(options.circuit_breaker)
        self.pools = PoolLeaser(store, batch_id, options.pools)
        self.failed_rows = 0
        self.stop_reason: str | None = None
        """Why this run stopped scheduling on its own (``max_failures``), if it did."""

    def stop(self) -> None:
        """Stop scheduling new jobs; running ones finish and are recorded."""
        self._stopping.set()

    def abort(self) -> None:
        """Cancel running jobs as well (they are recorded as cancelled, resumable)."""
        self._stopping.set()
        for worker in self._workers:
            worker.cancel()

    def _spec(self, job: BatchJob, attempt: int, *, verify: bool = False) -> JobSpec:
        """What a runner gets for one attempt of ``job`` (0 for a verify run)."""
        return JobSpec(
            job.job_id,
            job.batch_id,
            job.row_index,
            job.row_data,
            attempt,
            verify=verify,
            flow_hash=self.options.flow_hash,
            settings=self.options.runtime_settings,
        )

    def recover_interrupted(self) -> None:
        """Jobs left running by a crashed engine: re-run them, or hold them for review."""
        for owner in self.store.running_owners(self.batch_id):
            if owner_is_dead(owner, self.owner):
                to_pending, to_review = self.store.release_owner(owner)
                logger.warning(
                    "batch %s: engine %s is gone; %d interrupted jobs re-queued, %d need review",
                    self.batch_id, owner, to_pending, to_review,
                )  # fmt: skip
        self.store.requeue_stale(self.batch_id)

    async def verify_unknown_outcomes(self) -> None:
        """Rows in needs_review, checked with the flow's verify steps: a record found
        means the row was entered (completed); a business failure means it was not
        (pending, entered by this run); anything else leaves it for a person."""
        for job in self.store.iter_jobs(self.batch_id, [JobStatus.NEEDS_REVIEW]):
            outcome = await self.runner.run(self._spec(job, 0, verify=True))
            settle_verified(self.store, job.job_id, outcome)

    async def run(self) -> BatchStatus:
        """Run every pending job; return the batch's status afterwards."""
        self.recover_interrupted()
        if self.options.verify:
            await self.verify_unknown_outcomes()
        tracker = ProgressTracker(
            self.batch_id,
            self.store.count_by_status(self.batch_id),
            self.options.concurrency,
            self.progress,
        )
        pending = self.store.iter_job_ids(self.batch_id, [JobStatus.PENDING])
        self.store.set_batch_status(self.batch_id, BatchStatus.RUNNING)
        self.store.record_run_settings(self.batch_id, {"stop_reason": None})  # an earlier run's
        self._workers = [
            asyncio.create_task(self._worker(pending, tracker), name=f"batch-worker-{n}")
            for n in range(self.options.concurrency)
        ]
        watcher = asyncio.create_task(self._watch(), name="batch-watcher")
        # the job leases renew from a thread: a blocked loop must not let them expire
        renewing = Heartbeat(self.store, self.owner, self.options.lease_s, self._every()).start()
        try:
            results = await asyncio.gather(*self._workers, return_exceptions=True)
        finally:
            watcher.cancel()
            renewing.stop()  # its thread has ended: no renewal can follow the release
            self.store.release_owner(self.owner)  # anything still running: re-queued
        if self._cancelled_by_request:
            self.store.cancel_pending(self.batch_id)
            self.store.clear_cancel(self.batch_id)
        status = self._final_status()
        if self.stop_reason and status is BatchStatus.INTERRUPTED:  # for summary and reports
            self.store.record_run_settings(self.batch_id, {"stop_reason": self.stop_reason})
        self.store.set_batch_status(self.batch_id, status)
        # a worker that died of a bug must not pass for a finished batch (aborted
        # workers end with CancelledError, which is not an Exception)
        crashes = [result for result in results if isinstance(result, Exception)]
        if crashes:
            raise crashes[0]
        return status

    def _final_status(self) -> BatchStatus:
        counts = self.store.count_by_status(self.batch_id)
        unfinished = counts.get(JobStatus.PENDING, 0) + counts.get(JobStatus.RUNNING, 0)
        cancelled = counts.get(JobStatus.CANCELLED, 0)
        return BatchStatus.INTERRUPTED if unfinished or cancelled else BatchStatus.FINISHED

    def _every(self) -> float:
        """How often to renew and look for a cancel: at least three renewals per lease,
        however short BATCH_LEASE_S is set."""
        return min(self.options.poll_interval_s, self.options.lease_s / 3)

    async def _watch(self) -> None:
        """Honour a cancel requested by another process (the leases renew on a thread)."""
        while True:
            await asyncio.sleep(self._every())
            if not self._stopping.is_set() and self.store.cancel_requested(self.batch_id):
                logger.warning("batch %s: cancel requested; winding down", self.batch_id)
                self._cancelled_by_request = True
                self.stop()

    async def _worker(self, pending: Iterator[str], tracker: ProgressTracker) -> None:
        limiter = self.options.limiter
        while not self._stopping.is_set():
            async with limiter.slot() if limiter else contextlib.nullcontext():
                if self._stopping.is_set():
                    return
                job_id = next(pending, None)
                if job_id is None:
                    return
                await self._claim_and_run(job_id, tracker)
            if limiter:
                tracker.concurrency = limiter.limit
            if self.options.delay_s:
                await self.sleep(self.options.delay_s)

    async def _claim_and_run(self, job_id: str, tracker: ProgressTracker) -> None:
        if self.options.rate_limiter is not None:
            await self.options.rate_limiter.wait()
        token = self.store.claim_job(job_id, self.owner, self.options.lease_s)
        if token is None:
            return  # another engine took it, or it was settled meanwhile
        self.commits.claimed(job_id, token)
        tracker.job_started()
        job = self.store.get_job(job_id)
        try:
            status, flaky = await self._run_job(job, token)
        except asyncio.CancelledError:
            status = self._record_cancelled(job_id, token)
            tracker.job_finished(job_id, status)
            raise
        finally:
            self.commits.released(job_id)
        tracker.job_finished(job_id, status, flaky=flaky)
        if status is JobStatus.FAILED:
            self._count_failure()

    def _count_failure(self) -> None:
        """Stop scheduling once ``max_failures`` rows failed: when every row fails the same
        way, running to the last row only repeats the failure."""
        self.failed_rows += 1
        limit = self.options.max_failures
        if limit and self.failed_rows == limit:
            self.stop_reason = f"stopped after {limit} failed rows (--max-failures {limit})"
            logger.warning(
                "batch %s: %s; running rows finish. Fix the cause, then: batchwright resume %s",
                self.batch_id, self.stop_reason, self.batch_id,
            )  # fmt: skip
            self.stop()

    async def _run_job(self, job: BatchJob, token: str) -> tuple[JobStatus, bool]:
        """Attempts until success or the policy gives up; returns (status, flaky)."""
        earlier = len(job.attempts)  # a retried job goes on numbering its attempts
        secret_values = [job.row_data.get(column, "") for column in self.options.secrets]
        records: list[AttemptRecord] = []

        def repeatable(_outcome: AttemptOutcome) -> bool:
            """Never again once past an unsafe commit mark: the submit may have landed."""
            return not self.commits.passed_commit(job.job_id)

        def mask(outcome: AttemptOutcome, pool_secrets: list[str]) -> AttemptOutcome:
            return masked_outcome(outcome, secret_values + pool_secrets)

        async def attempt() -> AttemptOutcome:
            number = earlier + len(records) + 1
            asked_at = datetime.now(UTC)
            spec = self._spec(job, number)
            outcome, lease = await leased_attempt(self.pools, self.runner, spec, token, mask)
            host = owner_host(self.owner)
            records.append(attempt_record(number, asked_at, outcome, host, lease))
            self._observe(outcome)
            if self.policy.will_retry(outcome, len(records)) and repeatable(outcome):
                self.store.record_attempt(job.job_id, records[-1], token)
                logger.info("job %s attempt %d: %s (retrying)", job.job_id, number, outcome.message)
            return outcome

        retrying = self.policy.retrying(self.sleep)
        retrying = retrying.copy(retry=retrying.retry & retry_if_result(repeatable))
        outcome: AttemptOutcome = await retrying(attempt)
        status = self._status_after(outcome, past_commit=not repeatable(outcome))
        message = outcome.message
        if status is JobStatus.PENDING:
            message = f"circuit breaker open, re-queued: {message}"
        elif status is JobStatus.NEEDS_REVIEW:
            message = f"failed after its commit step, outcome unknown: {message}"
        self.store.finish_job(
            job.job_id,
            token,
            records[-1],
            status,
            outcome.category,
            message,
            dict(outcome.extracted),
        )
        return status, outcome.ok and len(records) > 1

    def _observe(self, outcome: AttemptOutcome) -> None:
        """Feed the circuit breaker; stop scheduling when it opens."""
        if self.breaker.observe(outcome):
            logger.warning(
                "batch %s: stopping after %d consecutive transient failures (last: %s); "
                "the target looks down. Fix it, then: batchwright resume %s",
                self.batch_id, self.breaker.consecutive, outcome.message, self.batch_id,
            )  # fmt: skip
            self.stop()

    def _status_after(self, outcome: AttemptOutcome, *, past_commit: bool) -> JobStatus:
        """Completed or failed. A failure past an unsafe commit mark needs review, unless
        it is the app's own answer (business): nobody knows whether the submit landed.
        A transient failure while the breaker is open is re-queued, since it says more
        about the target than about the row."""
        if outcome.ok:
            return JobStatus.COMPLETED
        if past_commit and outcome.category is not ErrorCategory.BUSINESS:
            return JobStatus.NEEDS_REVIEW
        if self.breaker.open and outcome.category in (
            ErrorCategory.TRANSIENT,
            ErrorCategory.RATE_LIMIT,
        ):
            return JobStatus.PENDING
        return JobStatus.FAILED

    def _record_cancelled(self, job_id: str, token: str) -> JobStatus:
        """A job cancelled mid-flight: re-runnable, unless it passed an unsafe commit."""
        reached_commit = self.store.get_job(job_id).reached_commit
        status = (
            JobStatus.NEEDS_REVIEW
            if reached_commit and not self.options.idempotent
            else JobStatus.CANCELLED
        )
        message = "cancelled while running" + (
            " after its commit step: outcome unknown" if status is JobStatus.NEEDS_REVIEW else ""
        )
        self.store.transition(job_id, status, token=token, error_message=message)
        return status


def settle_verified(store: ManifestStore, job_id: str, outcome: AttemptOutcome) -> JobStatus | None:
    """Settle a needs_review row by its verify run: the record found -> completed; a
    business failure (not found) -> pending, to be entered; anything else leaves it
    for a person (None). A row someone settled meanwhile is left as it is."""
    if outcome.ok:
        status, message = JobStatus.COMPLETED, "verified: the record exists"
    elif outcome.category is ErrorCategory.BUSINESS:
        status, message = JobStatus.PENDING, ""
    else:
        logger.warning("job %s: verify inconclusive: %s", job_id, outcome.message)
        return None
    try:
        store.transition(job_id, status, expected=[JobStatus.NEEDS_REVIEW], error_message=message)
    except InvalidTransitionError:
        return None
    return status


def masked_outcome(outcome: AttemptOutcome, secret_values: list[str]) -> AttemptOutcome:
    """The outcome with secret values masked in its message and extracted values."""
    if not any(secret_values):
        return outcome
    return replace(
        outcome,
        message=mask_secrets(outcome.message, secret_values),
        extracted={k: mask_secrets(v, secret_values) for k, v in outcome.extracted.items()},
    )


def attempt_record(
    number: int,
    asked_at: datetime,
    outcome: AttemptOutcome,
    host: str,
    lease: PoolLease | None = None,
) -> AttemptRecord:
    """The attempt as recorded; it started once its pool entries were leased."""
    lease = lease or PoolLease("")
    return AttemptRecord(
        number=number,
        started_at=asked_at + timedelta(seconds=lease.wait_s),
        duration_s=outcome.duration_s,
        ok=outcome.ok,
        category=outcome.category,
        message=outcome.message,
        artifacts=[{"kind": a.kind, "path": a.path, "name": a.name} for a in outcome.artifacts],
        host=host,
        pool=lease.keys,
        pool_wait_s=lease.wait_s,
        pool_unusable=[name for name in outcome.pool_unusable if name in lease.keys],
        note=outcome.evidence_note,
    )
