"""``batchwright worker``: a Celery worker that runs batch jobs.

Pool: Celery's ``threads`` pool with ``--concurrency N``. Its N threads only wait:
each submits its job's coroutine to the process's one event loop
(``asyncio.run_coroutine_threadsafe``), where the one browser runs every job.
Prefork would give each child its own browser; ``solo`` would run one task at a
time. No fork happens, so the loop and the browser start on ``worker_init``.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_shutdown

from batch.distributed.celery_app import QUEUE, RUN_JOB, make_app
from batch.distributed.flow_store import flow_from_record
from batch.distributed.worker_runtime import WorkerRuntime
from batch.models import BatchStatus
from batch.settings import BatchSettings
from batch.store import ManifestStore
from runtime.errors import ConfigurationError
from runtime.settings import redact_url

__all__ = ["build_worker_app", "check_flows", "run_worker"]

logger = logging.getLogger("batchwright.worker")

_runtime: list[WorkerRuntime] = []
"""This process's runtime, once ``worker_init`` started it (a list: no ``global``)."""


def _current() -> WorkerRuntime:
    if not _runtime:
        raise RuntimeError("the batchwright worker runtime is not started")
    return _runtime[0]


def build_worker_app(settings: BatchSettings) -> Celery:
    """The Celery app with the job task bound to this process's runtime."""
    app = make_app(settings)

    @app.task(name=RUN_JOB, ignore_result=True)  # type: ignore[untyped-decorator]
    def run_job(batch_id: str, job_id: str, run_attempt: int = 1) -> str:
        runtime = _current()
        return runtime.call(runtime.run_job(batch_id, job_id, run_attempt))

    def start(**_: Any) -> None:
        runtime = WorkerRuntime(settings, app)
        runtime.start()
        _runtime.append(runtime)
        logger.warning("worker %s ready on %s", runtime.owner, redact_url(str(settings.broker_url)))

    def stop(**_: Any) -> None:
        while _runtime:
            _runtime.pop().stop()

    worker_init.connect(start, weak=False)
    worker_shutdown.connect(stop, weak=False)
    return app


def check_flows(settings: BatchSettings, limit: int = 50) -> int:
    """Load the flow of every running batch in the store, so a worker that cannot
    import a Python flow says so when it starts, not row after row. How many."""
    checked = 0
    cache = settings.artifacts_dir / ".flows"
    with ManifestStore.for_settings(settings) as store:
        for manifest in store.list_batches(limit):
            record = manifest.settings.get("flow")
            if manifest.status is not BatchStatus.RUNNING or not isinstance(record, dict):
                continue
            try:
                flow_from_record(record, cache)
            except ConfigurationError as exc:
                raise ConfigurationError(
                    f"this worker cannot run batch {manifest.batch_id}: {exc}"
                ) from exc
            checked += 1
    return checked


def run_worker(settings: BatchSettings, concurrency: int, queues: Sequence[str] = ()) -> None:
    """Start a worker in this process; returns when it is shut down (SIGTERM, Ctrl-C)."""
    if not settings.broker_url:
        raise ConfigurationError("no broker: set BATCH_BROKER_URL (e.g. redis://localhost:6379/0)")
    check_flows(settings)
    app = build_worker_app(settings)
    app.worker_main(
        [
            "worker",
            "--pool=threads",
            f"--concurrency={concurrency}",
            f"--queues={','.join(queues or [QUEUE])}",
            f"--hostname=batchwright-{os.getpid()}@{socket.gethostname()}",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
        ]
    )
