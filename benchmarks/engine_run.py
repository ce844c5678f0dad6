"""batchwright as the benchmark runs it: what ``BatchEngine.execute_batch_jobs`` does
(create the batch, run it, write the reports), plus the adaptive limiter, which the
engine does not wire yet."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

from batch.concurrency import AdaptiveLimiter, auto_bounds
from batch.engine import BatchEngine
from batch.execution import BatchExecution, ExecutionOptions
from batch.models import JobStatus
from batch.retry import RetryPolicy
from runtime.browser import BrowserManager
from runtime.executor import CommitHook, LocalJobRunner
from runtime.run_context import RunContext
from runtime.settings import load_settings

__all__ = ["run_batch"]


async def run_batch(
    csv_path: Path, flow_path: Path, url: str, *, concurrency: str, isolation: str, workdir: Path
) -> dict[str, Any]:
    """Run one batch; return per-job latencies, the limiter's history and the status."""
    logging.getLogger("batchwright").setLevel(logging.WARNING)
    auto = concurrency == "auto"
    minimum, start, maximum = auto_bounds()
    settings = load_settings(
        {
            "base_dir": csv_path.parent,
            "artifacts_dir": workdir,
            "base_url": url,
            "concurrency": maximum if auto else int(concurrency),
            "isolation": isolation,
        },
        read_env=False,
    )
    engine = BatchEngine(RunContext(settings=settings))
    try:
        manifest = engine.create_batch_jobs(csv_path, flow_path)
        flow = engine.load_flow(flow_path)
        limiter = AdaptiveLimiter(minimum=minimum, maximum=maximum, start=start) if auto else None
        async with BrowserManager(settings) as browser:
            runners: list[LocalJobRunner] = []

            def runner(on_commit: CommitHook) -> LocalJobRunner:
                made = LocalJobRunner(
                    flow, settings, browser, workdir / manifest.batch_id, on_commit=on_commit
                )
                runners.append(made)
                return made

            async with limiter if limiter else contextlib.nullcontext():
                execution = BatchExecution(
                    engine.store,
                    manifest.batch_id,
                    runner,
                    RetryPolicy.from_settings(settings),
                    ExecutionOptions(
                        concurrency=settings.concurrency,  # type: ignore[arg-type]  # int here
                        idempotent=flow.idempotent,
                        limiter=limiter,
                    ),
                )
                await execution.run()
            for made in runners:
                await made.close()
        engine.write_reports(manifest.batch_id)
        jobs = list(engine.store.iter_jobs(manifest.batch_id))
        failed = [j for j in jobs if j.status is not JobStatus.COMPLETED]
        if failed:
            raise RuntimeError(f"{len(failed)} jobs did not complete: {failed[0].error_message}")
        latencies = [
            (j.finished_at - j.started_at).total_seconds()
            for j in jobs
            if j.finished_at and j.started_at
        ]
        report: dict[str, Any] = {"latencies": latencies}
        if limiter:
            report["limits"] = limiter.history
            report["final_limit"] = limiter.limit
        return report
    finally:
        engine.close()
