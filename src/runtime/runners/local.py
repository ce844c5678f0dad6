"""Running one attempt of one row in a browser context (see ``runtime.browser.context_pool``).

``LocalJobRunner`` implements the seam of ``runners.base`` in this process, on a
shared browser; a worker host would run the specs it receives with one of its own.
Nothing here raises for a failed row: every failure becomes an outcome with an
error category.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from playwright.async_api import Page

from runtime.browser import BrowserManager
from runtime.browser.context_pool import ContextPool, JobSession
from runtime.classify import classify
from runtime.evidence.artifacts import AttemptArtifacts, job_dir_name
from runtime.flows.context import FlowContext
from runtime.flows.model import Flow
from runtime.flows.steps import run_flow
from runtime.outcome import Artifact, AttemptOutcome, ErrorCategory, JobSpec
from runtime.runners.base import CommitRecorder
from runtime.settings import RuntimeSettings

__all__ = ["LocalJobRunner"]

logger = logging.getLogger("batchwright.executor")

BROWSER_GRACE_S = 60.0
"""Time beyond the job timeout for setting up, capturing evidence and closing."""


class LocalJobRunner:
    """Runs attempts in this process, in a context and page from a ``ContextPool``
    (fresh per attempt by default; pooled under ``recycled``/``page`` isolation)."""

    def __init__(
        self,
        flow: Flow,
        settings: RuntimeSettings,
        browser: BrowserManager,
        batch_dir: Path,
        *,
        recorder: CommitRecorder | None = None,
    ) -> None:
        self.flow = flow
        self.settings = settings
        self.browser = browser
        self.batch_dir = batch_dir
        self.recorder = recorder
        self.base_url = settings.base_url or flow.base_url
        self.job_timeout_s = flow.timeout_s or settings.job_timeout_s
        self.sessions = ContextPool(browser, settings.isolation, settings.recycle_context_every)
        # a trace records what was typed: flows with secrets (of rows or of pool entries)
        # are traced only on request
        secrets = flow.secrets or settings.secrets or flow.pool_secrets
        self.tracing_allowed = settings.trace_secrets or not secrets

    async def run(self, spec: JobSpec) -> AttemptOutcome:
        started = time.monotonic()
        if spec.flow_hash and spec.flow_hash != self.flow.content_hash:
            return AttemptOutcome(
                ok=False,
                duration_s=time.monotonic() - started,
                category=ErrorCategory.CONFIGURATION,
                message=f"flow {self.flow.source} is not the flow of batch {spec.batch_id}: "
                f"its content hash is {self.flow.content_hash or 'unknown'}, the batch's "
                f"{spec.flow_hash}",
            )
        artifacts = AttemptArtifacts(
            self.batch_dir,
            job_dir_name(spec.row_index, spec.job_id),
            spec.attempt,
            max_mb=self.settings.max_artifacts_mb,
        )
        try:
            # backstop for browser calls outside the flow's watchdog (tracing, capture,
            # closing) that a dead browser may never answer
            async with asyncio.timeout(self.job_timeout_s + BROWSER_GRACE_S):
                fresh = spec.attempt > 1 or spec.verify
                async with self.sessions.session(fresh=fresh) as session:
                    outcome = await self._run_in_session(spec, session, artifacts, started)
                    if not outcome.ok:
                        session.discard()
                    return outcome
        except Exception as exc:
            return _failed(exc, started, artifacts)

    async def close(self) -> None:
        """Close the pooled contexts (``recycled`` and ``page`` isolation)."""
        await self.sessions.close()

    async def _run_in_session(
        self,
        spec: JobSpec,
        session: JobSession,
        artifacts: AttemptArtifacts,
        started: float,
    ) -> AttemptOutcome:
        context, page = session.context, session.page
        traced = self._traced(spec.attempt)
        if traced:
            await artifacts.start_trace(context)
        ctx = self._flow_context(spec, page, artifacts)
        try:
            extracted = await asyncio.wait_for(
                run_flow(
                    page,
                    self.flow,
                    spec.row,
                    ctx,
                    base_url=self.base_url,
                    timeout_s=self.settings.step_timeout_s,
                    verify=spec.verify,
                ),
                timeout=self.job_timeout_s,
            )
        except Exception as exc:
            await artifacts.capture_failure(
                page,
                session.log.lines,
                screenshot=self.settings.screenshot_on_failure,
                html=self.settings.html_on_failure,
            )
            if traced:
                await artifacts.stop_trace(context, keep=True)
            unusable = tuple(sorted(ctx.pool_failures))
            if isinstance(exc, TimeoutError):
                watchdog = f"job exceeded its {self.job_timeout_s:g} s timeout (watchdog)"
                return _failed(exc, started, artifacts, message=watchdog, unusable=unusable)
            return _failed(exc, started, artifacts, unusable=unusable)
        if traced:
            await artifacts.stop_trace(context, keep=self.settings.trace == "always")
        return AttemptOutcome(
            ok=True,
            duration_s=time.monotonic() - started,
            artifacts=tuple(artifacts.artifacts),
            extracted=dict(extracted),
            pool_unusable=tuple(sorted(ctx.pool_failures)),
            evidence_note=artifacts.skipped_note,
        )

    def _traced(self, attempt: int) -> bool:
        """``retries`` traces only retries, so rows that pass first time pay nothing."""
        mode = self.settings.trace
        if not self.tracing_allowed:
            return False
        return mode in ("on-failure", "always") or (mode == "retries" and attempt > 1)

    def _flow_context(self, spec: JobSpec, page: Page, artifacts: AttemptArtifacts) -> FlowContext:
        async def screenshot(name: str) -> Artifact:
            return await artifacts.screenshot(page, name)

        async def commit() -> None:
            if self.recorder is not None:
                await self.recorder.mark_committed(spec)

        return FlowContext(
            job_id=spec.job_id,
            batch_id=spec.batch_id,
            row_index=spec.row_index,
            attempt=spec.attempt,
            logger=logger,
            screenshot_fn=screenshot,
            commit_fn=commit,
            pool=spec.pool,
        )


def _failed(
    exc: BaseException,
    started: float,
    artifacts: AttemptArtifacts,
    *,
    message: str = "",
    unusable: tuple[str, ...] = (),
) -> AttemptOutcome:
    """The outcome of an attempt that raised, with whatever evidence was captured."""
    category, default_message, retry_after = classify(exc)
    return AttemptOutcome(
        ok=False,
        duration_s=time.monotonic() - started,
        category=category,
        message=message or default_message,
        artifacts=tuple(artifacts.artifacts),
        retry_after_s=retry_after,
        pool_unusable=unusable,
        evidence_note=artifacts.skipped_note,
    )
