"""A worker process's runtime: ONE asyncio event loop in a dedicated thread and ONE
browser, both for the process's life. Celery's threads pool hands each message to
a thread that submits the job's coroutine to that loop and waits for it, so
``--concurrency N`` runs N jobs at once on one loop and one browser.

Per message: claim the job in the store (lease + attempt token) before running it;
a message that finds the job claimed by a live worker, finished or cancelled does
nothing. A failed attempt the retry policy retries is recorded, the job goes back
to pending, and a new message (delayed by the policy's backoff) claims it again.

The job leases renew from a thread (``batch.run.heartbeat``), so a busy or blocked
loop cannot let a running row's lease lapse and a second worker run it. An attempt's
own store calls (its read, its commit mark, its result) run in threads to keep the
loop serving the other jobs; a claim stays on the loop (a cancelled wait must not
leave a job claimed that nobody runs), as do the reports (two at once would share
one report lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from celery import Celery

from batch.distributed.celery_app import VERIFY_ATTEMPT, publish_job
from batch.distributed.flow_store import FlowCache
from batch.distributed.limits import broker_reachable, redis_client
from batch.distributed.sweep import finalize, recover_lost_workers, republish_pending
from batch.distributed.worker_batch import WorkerBatch
from batch.exceptions import BatchEngineError
from batch.models import FINAL_STATUSES, BatchStatus, JobStatus
from batch.run.execution import attempt_record, masked_outcome, settle_verified
from batch.run.heartbeat import Heartbeat
from batch.run.ownership import new_owner_id, owner_host
from batch.run.pool_leases import leased_attempt
from batch.settings import BatchSettings
from batch.store import ManifestStore
from runtime.browser import BrowserManager
from runtime.errors import ConfigurationError
from runtime.outcome import AttemptOutcome, ErrorCategory, JobSpec

__all__ = ["WorkerRuntime"]

logger = logging.getLogger("batchwright.worker")

T = TypeVar("T")

_ENDED = FINAL_STATUSES | {JobStatus.NEEDS_REVIEW}


class WorkerRuntime:
    """The event loop, browser, store connection and per-batch state of one worker."""

    def __init__(self, settings: BatchSettings, app: Celery) -> None:
        self.settings = settings
        self.app = app
        self.store = ManifestStore.for_settings(settings)
        self.owner = new_owner_id()
        self.host = socket.gethostname()
        self.flows = FlowCache(settings.artifacts_dir / ".flows")
        self.redis = redis_client(str(settings.broker_url))
        self._broker_up = True
        self.batches: dict[str, WorkerBatch] = {}
        self.tokens: dict[str, str] = {}
        self._marked: set[str] = set()
        """Jobs that passed an unsafe commit mark in their current attempt."""
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="batchwright-loop", daemon=True
        )
        self._browser = BrowserManager(settings)
        self._heartbeat = Heartbeat(self.store, self.owner, settings.lease_s, settings.lease_s / 6)
        """Renews the job leases from a thread: a busy or blocked loop cannot let them lapse."""
        self._sweeping: asyncio.Task[None] | None = None

    # --- life ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop thread, launch the browser on it, start the heartbeat."""
        self._thread.start()
        self.call(self._open())
        self._heartbeat.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the worker's loop and wait for it (from a pool thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        """Close the runners and the browser, give back what is still leased, stop."""
        with contextlib.suppress(Exception):
            self.call(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self._heartbeat.stop()  # its thread has ended: no renewal can follow the release
        self.store.release_owner(self.owner)
        self.store.close()

    async def _open(self) -> None:
        await self._browser.__aenter__()
        self._sweeping = asyncio.create_task(self._sweeps(), name="batchwright-sweeps")

    async def _close(self) -> None:
        if self._sweeping is not None:
            self._sweeping.cancel()
        for batch in self.batches.values():
            await batch.runner.close()
        await self._browser.__aexit__(None, None, None)

    async def _sweeps(self) -> None:
        """Now and then recover lost workers' jobs (a late sweep only delays that)."""
        while True:
            await asyncio.sleep(self.settings.lease_s / 2)
            try:
                await self._sweep()
            except Exception:  # a store or broker hiccup must not end the sweeps
                logger.exception("worker %s: sweep failed", self.owner)

    async def _sweep(self) -> None:
        """Recover lost workers' jobs; after a broker outage (whose restart may have lost
        the queued messages), publish the pending jobs again: duplicates do nothing.
        Batches that ended are forgotten (their runner closed) until a message returns."""
        was_up, self._broker_up = self._broker_up, broker_reachable(self.redis)
        if not self._broker_up:
            logger.warning("worker %s: the broker is unreachable", self.owner)
            return
        for batch_id in list(self.batches):
            if self.store.get_manifest(batch_id).status is not BatchStatus.RUNNING:
                if not any(job_id.startswith(f"{batch_id}-") for job_id in self.tokens):
                    await self.batches.pop(batch_id).runner.close()
                    self.flows.forget(batch_id)
                continue
            if recover_lost_workers(self.store, batch_id, self.owner) or not was_up:
                republish_pending(self.app, self.store, batch_id)

    # --- one message -----------------------------------------------------------------

    def _batch(self, batch_id: str) -> WorkerBatch:
        if batch_id not in self.batches:
            manifest = self.store.get_manifest(batch_id)
            self.batches[batch_id] = WorkerBatch.load(
                manifest,
                worker=self.settings,
                flows=self.flows,
                browser=self._browser,
                client=self.redis,
                recorder=self,
                store=self.store,
            )
        return self.batches[batch_id]

    async def mark_committed(self, spec: JobSpec) -> None:
        """``CommitRecorder``: durably mark the point of no return of a non-idempotent
        flow (fenced by the claim's token) before the step acts."""
        if not self.batches[spec.batch_id].flow.idempotent:
            token = self.tokens[spec.job_id]
            await asyncio.to_thread(self.store.mark_reached_commit, spec.job_id, token)
            self._marked.add(spec.job_id)

    def _claim(self, batch_id: str, job_id: str) -> str | None:
        """The job's attempt token, or None when it is not this message's to run."""
        token = self.store.claim_job(job_id, self.owner, self.settings.lease_s)
        # a redelivered message finding the job running takes over only from a lost worker
        if (
            token is None
            and self.store.get_job(job_id).status is JobStatus.RUNNING
            and recover_lost_workers(self.store, batch_id, self.owner)
        ):
            token = self.store.claim_job(job_id, self.owner, self.settings.lease_s)
        return token

    async def run_job(self, batch_id: str, job_id: str, run_attempt: int) -> str:
        """Handle one message; returns what happened (for the worker's log)."""
        if self.store.cancel_requested(batch_id):
            self.store.cancel_pending(batch_id)
            self._finalize(batch_id, held=True)
            return "batch cancelled"
        try:
            batch = self._batch(batch_id)
        except (ConfigurationError, BatchEngineError) as exc:
            return self._refuse(job_id, f"worker {self.host} cannot load the flow: {exc}")
        if batch.held:
            self._finalize(batch_id, held=True)
            return "held: circuit breaker open or --max-failures reached"
        if run_attempt == VERIFY_ATTEMPT:
            return await self._verify(batch, job_id)
        return await self._run(batch, job_id, run_attempt)

    async def _run(self, batch: WorkerBatch, job_id: str, run_attempt: int) -> str:
        """Claim the job and run one attempt of it, unless it is not this message's."""
        batch_id = batch.batch_id
        if batch.rate is not None:
            if self.store.get_job(job_id).status in _ENDED:
                return "not run: already settled"  # a duplicate takes no rate slot
            await batch.rate.wait()
        token = self._claim(batch_id, job_id)
        if token is None:
            return f"not run: {self.store.get_job(job_id).status}"
        self.tokens[job_id] = token
        try:
            status = await self._attempt(batch, job_id, token, run_attempt)
        except Exception as exc:
            logger.exception("job %s: worker error", job_id)
            with contextlib.suppress(BatchEngineError):
                self.store.transition(
                    job_id,
                    JobStatus.FAILED,
                    token=token,
                    error_category=ErrorCategory.UNKNOWN,
                    error_message=f"worker {self.host} error: {type(exc).__name__}: {exc}",
                )
            status = JobStatus.FAILED
        finally:
            del self.tokens[job_id]
            self._marked.discard(job_id)
        if batch.settings.delay_s:
            await asyncio.sleep(batch.settings.delay_s)
        if status is JobStatus.FAILED and batch.failures.count_failure():
            reason = f"stopped after {batch.failures.limit} failed rows (--max-failures)"
            logger.warning("batch %s: %s; running rows finish", batch_id, reason)
            self.store.record_run_settings(batch_id, {"stop_reason": reason})
        held = batch.held
        if status is not JobStatus.PENDING or held:  # a retry's message is on its way
            self._finalize(batch_id, held=held)
        return str(status)

    async def _verify(self, batch: WorkerBatch, job_id: str) -> str:
        """Check a needs_review row with the flow's verify steps, as the in-process
        engine does on resume: found -> completed, not found -> run it (a new message).
        Look-only steps: a duplicated check is harmless, the transition settles once."""
        job = self.store.get_job(job_id)
        if job.status is not JobStatus.NEEDS_REVIEW or not batch.flow.verify:
            batch.checks.done()
            self._finalize(batch.batch_id, held=False)
            return f"not verified: {job.status}, {len(batch.flow.verify)} verify steps"
        spec = JobSpec(job.job_id, job.batch_id, job.row_index, job.row_data, 0, verify=True)
        try:
            status = settle_verified(self.store, job_id, await batch.runner.run(spec))
        finally:
            batch.checks.done()
        if status is JobStatus.PENDING:
            publish_job(
                self.app, batch.batch_id, job_id, priority=batch.priority, queue=batch.queue
            )
        else:
            self._finalize(batch.batch_id, held=False)
        return f"verified: {status or 'inconclusive, left for review'}"

    def _refuse(self, job_id: str, message: str) -> str:
        """A job this worker cannot run at all (its flow does not load here): failed
        as a configuration error naming the worker, retryable once it is fixed."""
        token = self.store.claim_job(job_id, self.owner, self.settings.lease_s)
        if token is not None:
            self.store.transition(
                job_id,
                JobStatus.FAILED,
                token=token,
                error_category=ErrorCategory.CONFIGURATION,
                error_message=message,
            )
        logger.error("job %s: %s", job_id, message)
        return message

    async def _attempt(
        self, batch: WorkerBatch, job_id: str, token: str, run_attempt: int
    ) -> JobStatus:
        job = await asyncio.to_thread(self.store.get_job, job_id)
        number = len(job.attempts) + 1
        secret_values = [job.row_data.get(column, "") for column in batch.secrets]
        asked_at = datetime.now(UTC)
        spec = JobSpec(job.job_id, job.batch_id, job.row_index, job.row_data, number)

        def mask(outcome: AttemptOutcome, pool_secrets: list[str]) -> AttemptOutcome:
            return masked_outcome(outcome, secret_values + pool_secrets)

        outcome, lease = await leased_attempt(batch.pools, batch.runner, spec, token, mask)
        record = attempt_record(number, asked_at, outcome, owner_host(self.owner), lease)
        if batch.breaker.observe(outcome):
            logger.warning(
                "batch %s: circuit breaker open after %d consecutive transient failures "
                "on all workers; its rows stay pending (batchwright resume %s)",
                batch.batch_id, batch.breaker.threshold, batch.batch_id,
            )  # fmt: skip
        past_commit = job_id in self._marked
        status, message = self._status_after(batch, outcome, run_attempt, past_commit)
        await asyncio.to_thread(
            self.store.finish_job,
            job_id, token, record, status, outcome.category, message, dict(outcome.extracted),
        )  # fmt: skip
        if status is JobStatus.PENDING and not batch.breaker.open:
            delay = batch.policy.delay_after(outcome, run_attempt)
            logger.info("job %s attempt %d: %s (retry in %.1fs)", job_id, number, message, delay)
            try:
                publish_job(
                    self.app,
                    batch.batch_id,
                    job_id,
                    run_attempt=run_attempt + 1,
                    priority=batch.priority,
                    countdown=delay or None,
                    queue=batch.queue,
                )
            except Exception as exc:  # the broker is down: the job stays pending
                logger.warning("job %s: retry not sent (%s); a sweep sends it again", job_id, exc)
        return status

    @staticmethod
    def _status_after(
        batch: WorkerBatch, outcome: AttemptOutcome, run_attempt: int, past_commit: bool
    ) -> tuple[JobStatus, str]:
        """As in-process: a failure past an unsafe commit mark needs review (unless the
        app answered: business), never a retry; the breaker re-queues transient ones."""
        if outcome.ok:
            return JobStatus.COMPLETED, outcome.message
        if past_commit and outcome.category is not ErrorCategory.BUSINESS:
            message = f"failed after its commit step, outcome unknown: {outcome.message}"
            return JobStatus.NEEDS_REVIEW, message
        transient = outcome.category in (ErrorCategory.TRANSIENT, ErrorCategory.RATE_LIMIT)
        if batch.breaker.open and transient:
            return JobStatus.PENDING, f"circuit breaker open, re-queued: {outcome.message}"
        if batch.policy.will_retry(outcome, run_attempt):
            return JobStatus.PENDING, outcome.message
        return JobStatus.FAILED, outcome.message

    def _finalize(self, batch_id: str, *, held: bool) -> None:
        """The worker that sees a batch settle writes its status and merged report."""
        held = held or self.store.cancel_requested(batch_id)
        batch = self.batches.get(batch_id)
        checking = batch is not None and batch.checks.outstanding
        try:
            finalize(self.store, batch_id, self.settings, self.owner, held=held, checking=checking)
        except Exception:
            logger.exception("batch %s: writing the reports failed", batch_id)
