"""The launcher: runs the server's batches in its own event loop, or hands them to
``batchwright worker`` processes when ``broker_url`` is set.

At most ``max_running_batches`` run here at once (each on an engine of its own, on the
server's store); the others wait in order, and ``queued()`` tells the create route when
to answer 429. On SIGTERM / SIGINT (``stop``) nothing new starts and running batches
stop scheduling: their running rows finish and are recorded, the rest stays pending,
so every batch is resumable, as after the CLI's first Ctrl-C.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from batch.engine import BatchEngine
from batch.models import BatchStatus, JobStatus, ProgressEvent
from batch.reports.summary import BatchSummary
from batch.service.hooks import BatchHooks
from batch.service.tasks import TaskRegistry
from batch.settings import BatchSettings
from batch.store import ManifestStore
from runtime.run_context import RunContext

__all__ = ["SERVICE_OPTIONS", "Launcher", "RunState"]

log = logging.getLogger("batchwright.service")

SERVICE_OPTIONS = "service_options"
"""Key of a batch's recorded settings holding the options it was created with."""

RunState = Literal["queued", "running", "workers", "idle"]


@dataclass
class _Run:
    batch_id: str
    state: RunState = "queued"
    engine: BatchEngine | None = None
    task: asyncio.Task[Any] | None = None
    cancel_requested: bool = field(default=False)


class Launcher:
    """Starts, queues, cancels and stops the batches of one server."""

    def __init__(
        self, settings: BatchSettings, store: ManifestStore, hooks: BatchHooks, tasks: TaskRegistry
    ) -> None:
        self.settings = settings
        self.store = store
        self.hooks = hooks
        self.tasks = tasks
        self._slots = asyncio.Semaphore(settings.max_running_batches)
        self._runs: dict[str, _Run] = {}
        self._stopping = False

    @property
    def on_workers(self) -> bool:
        return bool(self.settings.broker_url)

    def queued(self) -> int:
        return sum(run.state == "queued" for run in self._runs.values())

    def running(self) -> int:
        return sum(run.state != "queued" for run in self._runs.values())

    def state_of(self, batch_id: str) -> RunState:
        run = self._runs.get(batch_id)
        return "idle" if run is None else run.state

    def busy(self, batch_id: str) -> bool:
        """Run (or queued) here, or held by a live engine elsewhere (CLI, another server)."""
        return batch_id in self._runs or self.store.batch_owner(batch_id) is not None

    def start(self, batch_id: str, *, resume: bool = False) -> None:
        """Queue a run of the batch's pending rows (``resume``: its cancelled ones too)."""
        if self._stopping:
            raise RuntimeError("the server is shutting down")
        run = _Run(batch_id, "workers" if self.on_workers else "queued")
        self._runs[batch_id] = run
        run.task = self.tasks.spawn(self._run(run, resume=resume), name=f"batch-{batch_id}")

    def cancel(self, batch_id: str) -> None:
        """Stop the batch wherever it runs; resumable. A queued one never starts."""
        run = self._runs.get(batch_id)
        if run is not None and run.state == "queued" and run.task is not None:
            run.task.cancel()
            self._settle_idle(batch_id)
            return
        if run is not None or self.store.batch_owner(batch_id) is not None:
            self.store.request_cancel(batch_id)  # the engine or the workers poll it
            return
        self._settle_idle(batch_id)

    def _settle_idle(self, batch_id: str) -> None:
        """Nothing runs it: its pending rows become cancelled at once (resume re-queues)."""
        if self.store.cancel_pending(batch_id):
            self.store.set_batch_status(batch_id, BatchStatus.INTERRUPTED)

    def stop(self) -> None:
        """Shutting down: start nothing more; running batches stop scheduling."""
        self._stopping = True
        for run in list(self._runs.values()):
            if run.state in ("queued", "workers") and run.task is not None:
                run.task.cancel()  # on workers the rows go on; only the following stops
            elif run.engine is not None:
                run.engine.stop()

    def abort(self) -> None:
        """A second signal: running rows are cancelled too (recorded, resumable)."""
        self.stop()
        for run in self._runs.values():
            if run.engine is not None:
                run.engine.abort()

    async def shutdown(self) -> None:
        """``stop``, then wait for the running batches to wind down."""
        self.stop()
        running = [run.task for run in self._runs.values() if run.task is not None]
        await asyncio.gather(*running, return_exceptions=True)

    # --- one run -----------------------------------------------------------------------
    async def _run(self, run: _Run, *, resume: bool) -> None:
        try:
            if self.on_workers:
                summary = await self._on_workers(run.batch_id, resume=resume)
            else:
                async with self._slots:
                    if self._stopping:
                        return  # stopped while it waited: it stays pending
                    run.state = "running"
                    summary = await self._locally(run, resume=resume)
        except asyncio.CancelledError:
            if run.state == "running":
                raise
            return  # queued (it stays pending), or followed on workers (they go on)
        except Exception as exc:  # one batch's failure must not stop the server
            log.error("batch %s: the run failed: %s", run.batch_id, exc)
            return
        finally:
            self._runs.pop(run.batch_id, None)
        for listener in self.hooks.on_finished:
            _call(listener, summary)

    def engine_for(self, batch_id: str) -> BatchEngine:
        """An engine on the server's store with the options the batch was created with."""
        recorded = self.store.get_manifest(batch_id).settings.get(SERVICE_OPTIONS) or {}
        settings = self.settings.with_overrides(**_as_overrides(recorded))
        return BatchEngine(RunContext(settings=settings), store=self.store)

    async def _locally(self, run: _Run, *, resume: bool) -> BatchSummary:
        engine = self.engine_for(run.batch_id)
        run.engine = engine
        if resume:
            return await engine.resume_batch(run.batch_id, self._progress)
        return await engine.execute_batch_jobs(run.batch_id, self._progress)

    async def _on_workers(self, batch_id: str, *, resume: bool) -> BatchSummary:
        from batch.distributed.dispatch import DistributedRun  # noqa: PLC0415 - Celery on demand

        engine = self.engine_for(batch_id)
        if resume:
            self.store.requeue(batch_id, [JobStatus.CANCELLED])
            self.store.clear_cancel(batch_id)
        distributed = DistributedRun(engine, batch_id, priority=engine.settings.priority)
        await asyncio.to_thread(distributed.submit)
        return await distributed.attach(self._progress)

    def _progress(self, event: ProgressEvent) -> None:
        for listener in self.hooks.on_progress:
            _call(listener, event)


def _as_overrides(recorded: Mapping[str, Any]) -> dict[str, Any]:
    """A batch's recorded options as settings (``retries`` is ``max_retries``)."""
    overrides = {k: v for k, v in recorded.items() if k != "retries"}
    if recorded.get("retries") is not None:
        overrides["max_retries"] = recorded["retries"]
    if "secrets" in overrides:
        overrides["secrets"] = frozenset(overrides["secrets"]) or None
    return overrides


def _call(listener: Any, value: Any) -> None:
    try:
        listener(value)
    except Exception:  # a listener's bug must not stop a batch
        log.exception("a batch listener failed")
