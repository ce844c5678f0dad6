"""``BatchEngine`` and ``start_batch``: the public API. Thin orchestration over the
modules that do the work (creation, execution, store, retry, reports).

    engine = BatchEngine(RunContext(), config={"flow": "flow.yaml", "concurrency": 4})
    manifest = engine.create_batch_jobs("data.csv")
    summary = await engine.execute_batch_jobs(manifest.batch_id)

    manifest = await start_batch("data.csv", flow="flow.yaml")  # the same in one call
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from batch.exceptions import ConfigurationError
from batch.groups import GroupSummary, create_group, run_group, summarise_group
from batch.ingest.creation import create_batch
from batch.ingest.csv_reader import parse_csv
from batch.models import BatchGroup, BatchJob, BatchManifest, JobStatus
from batch.reports import summarise, write_reports
from batch.reports.summary import BatchSummary, build_summary
from batch.run.concurrency import AdaptiveLimiter, make_limiter, max_concurrency
from batch.run.execution import BatchExecution, ExecutionOptions
from batch.run.ownership import owning, taking
from batch.run.progress import ProgressCallback
from batch.run.retry import RetryPolicy, Sleep
from batch.run.retry_request import RetryRequest
from batch.run.shared import SharedRun
from batch.run.throttle import RateLimiter
from batch.settings import BatchSettings, load_settings, settings_over
from batch.store import ManifestStore
from runtime.browser import BrowserManager
from runtime.flows.model import Flow, load_flow
from runtime.outcome import ErrorCategory
from runtime.run_context import RunContext
from runtime.runners.base import CommitRecorder, RunnerFactory, attempt_settings
from runtime.runners.local import LocalJobRunner

__all__ = ["BatchEngine", "start_batch"]

RETRY_POLICY = "retry_policy"
"""Key of the recorded settings holding the policy of a pending ``retry_batch_jobs``."""

NO_FLOW = (
    "no flow given: pass one (create_batch_jobs(csv, flow=...), start_batch(csv, flow=...)), "
    "or set it in the configuration (config={'flow': 'flow.yaml'}, the BATCH_FLOW "
    "environment variable, or --flow on the command line)"
)


def _secrets_of(manifest: BatchManifest) -> list[str]:
    """The secret columns recorded when the batch was created."""
    recorded = manifest.settings.get("secrets", [])
    return [str(column) for column in recorded]


def _flow_hash_of(manifest: BatchManifest, flow: Flow) -> str:
    """The hash the batch recorded for its flow; refuses to run a flow edited since.
    Batches recorded without one (older, or a flow built in code) take the flow's own."""
    recorded = str(manifest.settings.get("flow_hash") or "")
    if recorded and flow.content_hash != recorded:
        raise ConfigurationError(
            f"flow {flow.source} changed since batch {manifest.batch_id} was created "
            f"(content hash {flow.content_hash}, recorded {recorded}): its rows must all run "
            f"the same flow. Restore the flow, or create a new batch with the edited one "
            f"(--skip-completed skips the rows this batch already entered)."
        )
    return recorded or flow.content_hash


class BatchEngine:
    """Create, execute, resume, retry and cancel batches; summarise them."""

    def __init__(
        self,
        run_context: RunContext | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        store: ManifestStore | None = None,
        sleep: Sleep = asyncio.sleep,
        runner_factory: RunnerFactory | None = None,
    ) -> None:
        """``config`` sets any ``BatchSettings`` option over the run context's settings.
        A context holding runtime settings only (``RunContext()``) is completed with the
        batch options of the environment (``BATCH_*``) and ``.env``.
        ``runner_factory`` replaces the browser: each execution gets its runner from it
        (``ScriptedRunner(...).bind`` in tests, a remote dispatcher later) instead of a
        ``LocalJobRunner`` on a Chromium launched for the run. Its runners' lifetime is
        the caller's; the batch's flow hash and attempt settings reach them in each spec.
        """
        if run_context is None:
            settings = load_settings(config)
            context = RunContext(settings=settings)
        else:
            settings = settings_over(run_context.settings, config)
            context = replace(run_context, settings=settings)
        if run_context is None or (config or {}).get("log_level"):
            context.logger.setLevel(settings.log_level)
        self.context = context
        self._settings = settings
        self.store = store or ManifestStore.for_settings(settings)
        self.sleep = sleep
        self.runner_factory = runner_factory
        self._flows: dict[str, Flow] = {}
        self._executions: set[BatchExecution] = set()

    @property
    def settings(self) -> BatchSettings:
        return self._settings

    def batch_dir(self, batch_id: str) -> Path:
        return self.settings.artifacts_dir / batch_id

    # --- creating -------------------------------------------------------------
    def parse_csv(self, csv_path: str | Path) -> list[dict[str, str]]:
        """Every row of a (small) CSV as dicts, after the same checks as a batch."""
        return parse_csv(csv_path, self.settings)

    def load_flow(self, flow: str | Path | Flow) -> Flow:
        if isinstance(flow, Flow):
            return flow
        return load_flow(flow, base_dir=self.settings.base_dir)

    def create_batch_jobs(
        self, csv_path: str | Path, flow: str | Path | Flow | None = None
    ) -> BatchManifest:
        """Check the CSV and flow, and store one pending job per row. Runs nothing.

        Without ``flow``, the ``flow`` setting (``config={'flow': ...}``, ``BATCH_FLOW``)."""
        if flow is None and self.settings.flow is None:
            raise ConfigurationError(NO_FLOW)
        loaded = self.load_flow(flow if flow is not None else str(self.settings.flow))
        manifest = create_batch(
            csv_path, loaded, self.settings, self.store, run_id=self.context.run_id
        )
        self._flows[manifest.batch_id] = loaded
        self.context.logger.info(
            "batch %s: %d jobs from %s", manifest.batch_id, manifest.total, manifest.csv_path
        )
        return manifest

    # --- running --------------------------------------------------------------
    async def start_batch(
        self,
        csv_path: str | Path,
        flow: str | Path | Flow | None = None,
        progress_callback: ProgressCallback | None = None,
    ) -> BatchSummary:
        """Create a batch and execute it; its summary (module-level ``start_batch``
        returns the manifest instead, as the spec has it)."""
        manifest = self.create_batch_jobs(csv_path, flow)
        return await self.execute_batch_jobs(manifest.batch_id, progress_callback)

    async def execute_batch_jobs(
        self,
        batch_id: str,
        progress_callback: ProgressCallback | None = None,
        *,
        shared: SharedRun | None = None,
    ) -> BatchSummary:
        """Run the batch's pending jobs (and interrupted ones); write the reports.

        Returns the ``BatchSummary``, also readable as ``result['completed']``,
        ``result['failed']``, ... A retry policy recorded by ``retry_batch_jobs``
        applies to this execution, then is cleared. Raises ``BatchBusyError`` while
        another live engine runs the batch. ``shared``: a group's browser and budget."""
        async with owning(self.store, batch_id) as owner:
            return await self._execute(batch_id, owner, progress_callback, shared)

    # --- groups (batch/groups, docs/groups.md) --------------------------------
    def create_batch_group(
        self,
        sources: str | Path | Sequence[str | Path],
        flow: str | Path | Flow | None = None,
    ) -> BatchGroup:
        """One batch per CSV of ``sources`` (files, directories, glob patterns), all
        made before any runs. Files the CSV checks refuse are in ``group.refused``."""
        return create_group(self, sources, flow)

    async def execute_group(
        self, group_id: str, progress_callback: ProgressCallback | None = None
    ) -> GroupSummary:
        """Run the group's batches at once on one browser and one concurrency budget;
        write each batch's reports and the group's index (``groups/<id>/index.html``)."""
        return await run_group(self, group_id, progress_callback)

    def get_group_summary(self, group_id: str) -> GroupSummary:
        return summarise_group(self, group_id)

    async def _execute(
        self,
        batch_id: str,
        owner: str,
        progress_callback: ProgressCallback | None,
        shared: SharedRun | None = None,
    ) -> BatchSummary:
        manifest = self.store.get_manifest(batch_id)
        flow = self._flows.get(batch_id) or self.load_flow(manifest.flow_ref)
        settings = self._settings_for(manifest)
        if RETRY_POLICY in manifest.settings:
            self.store.record_run_settings(batch_id, {RETRY_POLICY: None})
        policy = RetryPolicy.from_settings(settings)
        unsettled = [JobStatus.PENDING, JobStatus.RUNNING]
        if flow.verify:
            unsettled.append(JobStatus.NEEDS_REVIEW)
        counts = self.store.count_by_status(batch_id)
        if any(counts.get(status) for status in unsettled):
            await self._run(manifest, owner, flow, settings, policy, progress_callback, shared)
        return self.write_reports(batch_id)

    async def _run(  # noqa: PLR0917 - private, called once
        self,
        manifest: BatchManifest,
        owner: str,
        flow: Flow,
        settings: BatchSettings,
        policy: RetryPolicy,
        progress_callback: ProgressCallback | None,
        shared: SharedRun | None = None,
    ) -> None:
        """One execution: the runners (a browser, unless a factory was injected), an
        optional adaptive limiter, the workers; a group's run shares its browser and
        limiter (``shared``)."""
        batch_id = manifest.batch_id
        flow_hash = _flow_hash_of(manifest, flow)
        limiter = shared.limiter if shared else make_limiter(settings)
        options = replace(
            self._execution_options(settings, flow, manifest),
            limiter=limiter,
            flow_hash=flow_hash,
            runtime_settings=attempt_settings(settings),
        )
        async with contextlib.AsyncExitStack() as stack:
            factory = self.runner_factory or await self._local_runners(
                stack, flow, settings, batch_id, shared.browser if shared else None
            )
            if isinstance(limiter, AdaptiveLimiter) and shared is None:
                await stack.enter_async_context(limiter)
            execution = BatchExecution(
                self.store,
                batch_id,
                factory,
                policy,
                options,
                owner=owner,
                sleep=self.sleep,
                progress=progress_callback,
            )
            self._executions.add(execution)
            try:
                await execution.run()
            finally:
                self._executions.discard(execution)
        chosen = (
            f"auto (start {limiter.history[0][1]}, peak {limiter.peak}, final {limiter.limit})"
            if isinstance(limiter, AdaptiveLimiter)
            else str(options.concurrency)
        )
        if shared is not None:
            chosen += " (shared by the group)"
        self.store.record_run_settings(
            batch_id,
            {
                "concurrency": chosen,
                "isolation": settings.isolation,
                "max_artifacts_mb": settings.max_artifacts_mb,
            },
        )

    async def _local_runners(
        self,
        stack: contextlib.AsyncExitStack,
        flow: Flow,
        settings: BatchSettings,
        batch_id: str,
        browser: BrowserManager | None = None,
    ) -> RunnerFactory:
        """A factory of ``LocalJobRunner``s on ``browser``, or on one launched now;
        ``stack`` closes the runners, then the browser it launched."""
        if browser is None:
            browser = await stack.enter_async_context(BrowserManager(settings))

        def local(recorder: CommitRecorder) -> LocalJobRunner:
            made = LocalJobRunner(
                flow, settings, browser, self.batch_dir(batch_id), recorder=recorder
            )
            stack.push_async_callback(made.close)
            return made

        return local

    async def resume_batch(
        self, batch_id: str, progress_callback: ProgressCallback | None = None, *,
        shared: SharedRun | None = None,
    ) -> BatchSummary:  # fmt: skip
        """Pick up pending, cancelled and interrupted jobs after a stop or a crash."""
        async with owning(self.store, batch_id) as owner:
            self.store.requeue(batch_id, [JobStatus.CANCELLED])
            return await self._execute(batch_id, owner, progress_callback, shared)

    def retry_batch_jobs(
        self,
        batch_id: str,
        job_ids: Collection[str] | None = None,
        *,
        categories: Collection[ErrorCategory] | None = None,
        max_retries: int | None = None,
        retry_delay: float | None = None,
        backoff_factor: float | None = None,
        progress_callback: ProgressCallback | None = None,
    ) -> RetryRequest:
        """Re-queue failed jobs (all, or only ``job_ids`` / ``categories``) at once.

        The retry policy (``max_retries``, ``retry_delay``, ``backoff_factor``; unset
        ones from the settings) is recorded with the batch: the next execution of the
        batch uses it, whichever process runs it. The returned ``RetryRequest`` reads
        like a mapping (``result['requeued']``, ``result['pending']``, ...); awaiting it
        (``await engine.retry_batch_jobs(...)``) runs the batch and gives its
        ``BatchSummary``. Not awaited, the rows wait for ``execute_batch_jobs``.
        Raises ``BatchBusyError`` while another live engine runs the batch."""
        settings = self.settings.with_overrides(
            max_retries=max_retries, retry_delay=retry_delay, backoff_factor=backoff_factor
        )
        policy = {
            "max_retries": settings.max_retries,
            "retry_delay": settings.retry_delay,
            "backoff_factor": settings.backoff_factor,
        }
        with taking(self.store, batch_id):
            self.store.record_run_settings(batch_id, {RETRY_POLICY: policy})
            requeued = self.store.requeue(
                batch_id, [JobStatus.FAILED], job_ids=job_ids, categories=categories
            )
        by_status = self.store.count_by_status(batch_id)
        counts = {status.value: by_status.get(status, 0) for status in JobStatus}
        return RetryRequest(
            batch_id,
            requeued,
            {**counts, "total": sum(counts.values())},
            policy,
            lambda: self.execute_batch_jobs(batch_id, progress_callback),
        )

    def cancel_batch(self, batch_id: str) -> None:
        """Ask the engine running this batch (in any process) to wind down."""
        self.store.get_manifest(batch_id)
        self.store.request_cancel(batch_id)

    def stop(self) -> None:
        """Stop scheduling in this process (first Ctrl-C); running jobs finish."""
        for execution in list(self._executions):
            execution.stop()

    def abort(self) -> None:
        """Cancel running jobs in this process too (second Ctrl-C)."""
        for execution in list(self._executions):
            execution.abort()

    # --- reading --------------------------------------------------------------
    def get_manifest(self, batch_id: str, *, jobs: bool = False) -> BatchManifest:
        """The batch with its current counts; with ``jobs``, every job in row order as
        ``manifest.jobs`` (memory grows with the batch: ``store.iter_jobs`` streams)."""
        manifest = self.store.get_manifest(batch_id)
        if jobs:
            return manifest.model_copy(update={"jobs": list(self.store.iter_jobs(batch_id))})
        return manifest

    def _load_manifest_by_batch_id(self, batch_id: str) -> BatchManifest:
        """The name the spec's retry example uses: ``get_manifest(batch_id, jobs=True)``."""
        return self.get_manifest(batch_id, jobs=True)

    def get_batch_summary(self, batch_id: str) -> BatchSummary:
        """Counts (``total_jobs``, ``completed_jobs``, ``failed_jobs``), ``success_rate``
        (0..1), durations and error groups, computed from the store."""
        manifest = self.store.get_manifest(batch_id)
        return build_summary(
            manifest, self.store.iter_jobs(batch_id), secrets=_secrets_of(manifest)
        )

    def jobs_needing_review(self, batch_id: str) -> list[BatchJob]:
        """Rows whose outcome is unknown: interrupted after their point of no return."""
        return list(self.store.iter_jobs(batch_id, [JobStatus.NEEDS_REVIEW]))

    def settle_review(
        self, batch_id: str, status: JobStatus, job_ids: Collection[str] | None = None
    ) -> int:
        """A person checked the target: mark rows ``completed`` (it was entered) or
        ``pending`` (it was not; the next resume enters it). Returns how many."""
        if status not in (JobStatus.COMPLETED, JobStatus.PENDING):
            raise ConfigurationError(f"review rows as completed or pending, not {status}")
        ids = job_ids or self.store.job_ids(batch_id, [JobStatus.NEEDS_REVIEW])
        for job_id in ids:
            self.store.transition(
                job_id,
                status,
                expected=[JobStatus.NEEDS_REVIEW],
                error_message="settled by review" if status is JobStatus.COMPLETED else "",
            )
        return len(ids)

    def list_batches(self, limit: int | None = None) -> list[BatchManifest]:
        return self.store.list_batches(limit)

    def write_reports(
        self, batch_id: str, formats: Collection[str] | None = None, out: Path | None = None
    ) -> BatchSummary:
        """Write the reports (HTML, JUnit, CSV, JSON, Markdown) and the manifest into the
        batch's folder, or all of them into ``out`` (linking to the batch's evidence)."""
        manifest = self.store.get_manifest(batch_id)
        batch_dir = self.batch_dir(batch_id)
        self.store.export_manifest_json(batch_id, (out or batch_dir) / "manifest.json")
        secrets = _secrets_of(manifest)
        kwargs: dict[str, Any] = {"secrets": secrets}
        if formats is not None:
            kwargs["formats"] = formats
        summarised = summarise(manifest, self.store.iter_jobs(batch_id), secrets=secrets)
        write_reports(
            manifest,
            lambda: self.store.iter_jobs(batch_id),
            batch_dir,
            summarised=summarised,
            out=out,
            **kwargs,
        )
        return summarised[0]

    def _execution_options(
        self, settings: BatchSettings, flow: Flow, manifest: BatchManifest
    ) -> ExecutionOptions:
        return ExecutionOptions(
            concurrency=max_concurrency(settings),
            idempotent=flow.idempotent,
            rate_limiter=RateLimiter(settings.rate, sleep=self.sleep) if settings.rate else None,
            delay_s=settings.delay_s,
            circuit_breaker=settings.circuit_breaker,
            max_failures=settings.max_failures,
            secrets=tuple(_secrets_of(manifest)),
            verify=bool(flow.verify),
            pools=flow.pools,
            lease_s=settings.lease_s,
        )

    def _settings_for(self, manifest: BatchManifest) -> BatchSettings:
        """The batch's recorded base URL and artifact cap apply unless this run overrides
        them; a retry policy recorded by ``retry_batch_jobs`` applies to the next execution."""
        overrides = dict(manifest.settings.get(RETRY_POLICY) or {})
        recorded = manifest.settings.get("base_url")
        if recorded and not self.settings.base_url:
            overrides["base_url"] = recorded
        cap = manifest.settings.get("max_artifacts_mb")
        if cap and not self.settings.max_artifacts_mb:  # the batch's own artifact cap
            overrides["max_artifacts_mb"] = cap
        return self.settings.with_overrides(**overrides) if overrides else self.settings

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def start_batch(
    csv_path: str | Path,
    flow: str | Path | Flow | None = None,
    *,
    run_context: RunContext | None = None,
    config: Mapping[str, Any] | None = None,
    progress_callback: ProgressCallback | None = None,
) -> BatchManifest:
    """Create a batch from ``csv_path`` and run it on an engine of its own (closed
    afterwards); the manifest with its counts after the run. Without ``flow``, the
    ``flow`` setting (``config={'flow': ...}``, ``BATCH_FLOW``)."""
    engine = BatchEngine(run_context, config)
    try:
        manifest = engine.create_batch_jobs(csv_path, flow)
        await engine.execute_batch_jobs(manifest.batch_id, progress_callback)
        return engine.get_manifest(manifest.batch_id)
    finally:
        engine.close()
