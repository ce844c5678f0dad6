"""The service's scheduler: ``batchwright serve`` fires the store's schedules and
applies ``retention_days`` on its own loop (``run_scheduler``, docs/schedules.md).

A fired batch (each batch of a fired group) goes through the server's ``Launcher``
like one created by the API, so it streams live progress and webhooks, waits its
turn under ``max_running_batches``, and goes to the workers with the schedule's
priority when ``broker_url`` is set. Two servers on one store fire each slot once:
the ``ScheduleStore`` slot lease decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from batch.engine import BatchEngine
from batch.exceptions import BatchEngineError
from batch.schedule import DailyRetention, Launch, Launcher, Scheduler, run_scheduler
from batch.service.launcher import SERVICE_OPTIONS
from batch.service.state import ServiceState
from batch.store._schedules import ScheduleStore
from runtime.run_context import RunContext

__all__ = ["recorded_options", "service_launcher", "service_scheduler", "start_scheduling"]


def recorded_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """A schedule's options (``BatchSettings`` names) as the launcher's ``engine_for``
    reads them back (``_as_overrides``: ``retries`` is ``max_retries``)."""
    recorded = {k: v for k, v in options.items() if k != "max_retries"}
    if options.get("max_retries") is not None:
        recorded["retries"] = options["max_retries"]
    return recorded


def service_launcher(state: ServiceState) -> Launcher:
    """Hands a fired batch (every batch of a fired group, which the store already
    records, as ``POST /api/v1/groups`` starts them) to the server's launcher with its
    schedule's options."""

    async def launch(fired: Launch) -> None:
        try:
            options = recorded_options(ScheduleStore(state.store).get(fired.schedule).options)
            for batch_id in fired.batch_ids:
                state.store.record_run_settings(batch_id, {SERVICE_OPTIONS: options})
        finally:
            fired.engine.close()  # the launcher builds its own engine on the server's store
        try:
            for batch_id in fired.batch_ids:
                state.launcher.start(batch_id)
        except RuntimeError as exc:  # shutting down: the batches stay created, resumable
            raise BatchEngineError(str(exc)) from None

    return launch


def service_scheduler(state: ServiceState) -> Scheduler:
    """A ``Scheduler`` on the server's store whose batches the server's launcher runs.

    Each fired batch is created by an engine of its own (the schedule's options over
    the server's settings, its own store connection, closed once the batch exists)."""

    def engine_for(options: Mapping[str, Any]) -> BatchEngine:
        return BatchEngine(RunContext(settings=state.settings), config=options)

    def held_here(batch_id: str) -> bool:  # queued behind max_running_batches: no lease yet
        return state.launcher.state_of(batch_id) != "idle"

    return Scheduler(state.store, service_launcher(state), engine_for, held_here=held_here)


def start_scheduling(state: ServiceState) -> asyncio.Task[None] | None:
    """Spawn the scheduler loop (unless ``schedules`` is off); it ends when
    ``state.stopping`` is set, which ``close`` awaits before the launcher winds down."""
    if not state.settings.schedules:
        return None
    loop = run_scheduler(
        service_scheduler(state),
        state.stopping,
        state.settings.schedule_tick_s,
        retention=DailyRetention(state.settings),
    )
    task: asyncio.Task[None] = state.tasks.spawn(loop, name="scheduler")
    state.scheduling = task
    return task
