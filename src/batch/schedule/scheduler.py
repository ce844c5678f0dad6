"""The ``Scheduler``: at each ``tick(now)``, fire the schedules whose slot came.

For each schedule not paused, the due slot is the newest one at or before ``now``
that is newer than the last slot taken (and than the schedule's creation or last
resume). Only that newest slot fires: slots missed while no scheduler ran give one
catch-up run, not a burst. Taking the slot is one transaction on a unique
(schedule, slot) row, so two schedulers on one store (two service processes) fire
it once. A schedule whose previous batch (or any batch of its previous group) still
runs skips the slot, saying why. Firing creates the batch through the engine (a
group, one batch per CSV, for a directory or a glob pattern), records the schedule
on each batch and hands them to the injected launcher (in process, or to the
workers with its priority).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batch.engine import BatchEngine
from batch.exceptions import BatchEngineError, ConfigurationError
from batch.ingest.sources import is_pattern
from batch.run.ownership import new_owner_id
from batch.schedule.cron import parse_cron
from batch.settings import Priority
from batch.store import ManifestStore
from batch.store._retention import RetentionStore
from batch.store._schedules import ScheduleRecord, ScheduleStore

__all__ = [
    "EngineFactory",
    "Launch",
    "Launcher",
    "Scheduler",
    "SlotResult",
    "is_group_source",
    "utc_now",
]

logger = logging.getLogger("batchwright.schedule")

SCHEDULE_KEY = "schedule"
"""Key of a fired batch's recorded settings naming its schedule and slot."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Launch:
    """The batches a schedule just created, to be run: one, or every batch of the
    group ``group_id``. ``engine`` carries the schedule's options as settings; the
    launcher owns it from now on and closes it, even when it fails."""

    batch_ids: tuple[str, ...]
    schedule: str
    slot: datetime
    priority: Priority
    engine: BatchEngine
    group_id: str | None = None

    @property
    def fired_id(self) -> str:
        """What the schedule records as its last run: the group's id, or the batch's."""
        return self.group_id or self.batch_ids[0]


Launcher = Callable[[Launch], Awaitable[None]]
"""Starts a fired batch: runs it in this process, or sends it to the workers."""
EngineFactory = Callable[[Mapping[str, Any]], BatchEngine]
"""An engine with the schedule's options (``BatchSettings`` values) over the host's."""


@dataclass(frozen=True)
class SlotResult:
    """What a tick did with one schedule's due slot."""

    schedule: str
    slot: datetime
    outcome: str
    """``fired``, ``skipped`` or ``failed``."""
    reason: str = ""
    batch_id: str | None = None
    """The fired batch's id, or the fired group's."""


class Scheduler:
    """Fires due slots of the schedules in ``store``; ``tick`` is the whole job."""

    def __init__(
        self,
        store: ManifestStore,
        launcher: Launcher,
        engine_factory: EngineFactory,
        *,
        instance: str | None = None,
        held_here: Callable[[str], bool] | None = None,
    ) -> None:
        self.store = store
        self.schedules = ScheduleStore(store)
        self.launcher = launcher
        self.engine_factory = engine_factory
        self.instance = instance or new_owner_id()
        self.held_here = held_here
        """Whether the launcher still holds a batch it has no lease for yet (queued
        behind ``max_running_batches`` in the service): still running, for the skip."""

    async def tick(self, now: datetime) -> list[SlotResult]:
        """Fire every slot due at ``now`` (at most one per schedule); what came of each.

        A slot another scheduler took is not in the list."""
        results = []
        for record in self.schedules.all():
            try:
                slot = self.due_slot(record, now)
            except ConfigurationError as exc:  # one bad schedule must not stop the others
                logger.error("schedule %s cannot fire: %s", record.name, exc)
                continue
            if slot is None or not self.schedules.take_slot(record.name, slot, self.instance, now):
                continue
            try:
                result = await self._fire(record, slot)
            except Exception as exc:
                reason = " ".join(str(exc).split()) or type(exc).__name__
                result = SlotResult(record.name, slot, "failed", reason)
            self.schedules.settle_slot(
                record.name, slot, result.outcome, result.reason, result.batch_id
            )
            logger.info(
                "schedule %s, slot %s: %s %s", record.name, slot, result.outcome, result.reason
            )
            results.append(result)
        return results

    @staticmethod
    def due_slot(record: ScheduleRecord, now: datetime) -> datetime | None:
        """The newest slot at or before ``now`` not yet taken, if the schedule runs."""
        if record.paused:
            return None
        slot = parse_cron(record.cron, record.timezone).latest(now)
        floor = max(filter(None, (record.since, record.last_slot)), default=None)
        return slot if floor is None or slot > floor else None

    async def _fire(self, record: ScheduleRecord, slot: datetime) -> SlotResult:
        busy = self._previous_runs(record.last_batch_id)
        if busy is not None:
            return SlotResult(record.name, slot, "skipped", busy)
        engine = self.engine_factory(record.options)
        try:
            # a big CSV takes a while to read: the service's loop keeps serving meanwhile
            launch = await asyncio.to_thread(self._create, engine, record, slot)
        except BaseException:
            engine.close()
            raise
        fired = launch.fired_id
        if not launch.batch_ids:  # a group of refused files only: nothing to run
            engine.close()
            group = self.store.get_group(fired)
            refused = "; ".join(f"{r.path}: {r.error}" for r in group.refused)
            return SlotResult(record.name, slot, "failed", f"no batch made ({refused})", fired)
        # recorded before the launch: a batch run to its end in the launcher is known as fired
        self.schedules.settle_slot(record.name, slot, "fired", "", fired)
        try:
            await self.launcher(launch)
        except BatchEngineError as exc:
            reason = " ".join(f"launch: {exc}".split())
            return SlotResult(record.name, slot, "failed", reason, fired)
        return SlotResult(record.name, slot, "fired", "", fired)

    def _previous_runs(self, previous: str | None) -> str | None:
        """Why the slot is skipped: the last fired batch, or a batch of the last fired
        group, still runs (leases: real time); None otherwise."""
        if previous is None:
            return None
        group = self.store.find_group(previous)
        retention = RetentionStore(self.store)
        for batch_id in group.batch_ids if group is not None else [previous]:
            held = self.held_here is not None and self.held_here(batch_id)
            busy = "queued here" if held else retention.activity(batch_id)
            if busy is not None:
                of = f" of group {previous}" if group is not None else ""
                return f"previous batch {batch_id}{of} still runs ({busy})"
        return None

    @staticmethod
    def _create(engine: BatchEngine, record: ScheduleRecord, slot: datetime) -> Launch:
        """The slot's batch, or group for a directory or a pattern; each batch records
        the schedule and slot that fired it."""
        group_id = None
        if is_group_source(record.source):
            group = engine.create_batch_group(record.source, record.flow)
            group_id, batch_ids = group.group_id, tuple(group.batch_ids)
        else:
            batch_ids = (engine.create_batch_jobs(record.source, record.flow).batch_id,)
        for batch_id in batch_ids:
            engine.store.record_run_settings(
                batch_id, {SCHEDULE_KEY: {"name": record.name, "slot": slot.isoformat()}}
            )
        priority = engine.settings.priority
        return Launch(batch_ids, record.name, slot, priority, engine, group_id=group_id)


def is_group_source(source: str) -> bool:
    """A schedule's source makes a group when it is a directory or a glob pattern."""
    return is_pattern(source) or Path(source).is_dir()
