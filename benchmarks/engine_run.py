"""batchwright as a user runs it: ``BatchEngine.start_batch`` (create the batch, run
it, write every report), timed from outside by the benchmark."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from batch.engine import BatchEngine
from batch.models import JobStatus
from batch.settings import load_settings
from runtime.run_context import RunContext

__all__ = ["run_batch"]


async def run_batch(
    csv_path: Path, flow_path: Path, url: str, *, concurrency: str, isolation: str, workdir: Path
) -> dict[str, Any]:
    """Run one batch; return per-job latencies and the concurrency the engine used."""
    logging.getLogger("batchwright").setLevel(logging.WARNING)
    settings = load_settings(
        {
            "base_dir": csv_path.parent,
            "artifacts_dir": workdir,
            "base_url": url,
            "concurrency": concurrency if concurrency == "auto" else int(concurrency),
            "isolation": isolation,
        },
        read_env=False,
    )
    engine = BatchEngine(RunContext(settings=settings))
    try:
        summary = await engine.start_batch(csv_path, flow_path)
        jobs = list(engine.store.iter_jobs(summary.batch_id))
        failed = [j for j in jobs if j.status is not JobStatus.COMPLETED]
        if failed:
            raise RuntimeError(f"{len(failed)} jobs did not complete: {failed[0].error_message}")
        latencies = [
            (j.finished_at - j.started_at).total_seconds()
            for j in jobs
            if j.finished_at and j.started_at
        ]
        return {"latencies": latencies, "concurrency": summary.concurrency}
    finally:
        engine.close()
