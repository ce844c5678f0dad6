"""``ScheduleStore``: the ``schedules`` and ``schedule_runs`` tables (migration 0003).

Taking a slot is one transaction: insert the (schedule, slot) row unless it exists,
and move the schedule's ``last_slot`` forward only. Of two service instances (or
``schedule run-due`` in two shells) the one whose insert lands fires; the other sees
nothing to do. Every call is its own short transaction of the ``ManifestStore``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, text

from batch.exceptions import ConfigurationError
from batch.store import _codec as codec
from batch.store.manifest import ManifestStore

__all__ = ["ScheduleRecord", "ScheduleStore", "SlotRecord"]


@dataclass(frozen=True)
class ScheduleRecord:
    """A schedule as stored: what to run, when, and what its last slot gave."""

    name: str
    cron: str
    timezone: str
    source: str
    """The CSV file (absolute)."""
    flow: str
    options: Mapping[str, Any] = field(default_factory=dict)
    """``BatchSettings`` values for its batches (concurrency, retries, priority...)."""
    paused: bool = False
    created_at: datetime | None = None
    since: datetime | None = None
    """Slots at or before this moment never fire (its creation, or its last resume)."""
    last_slot: datetime | None = None
    last_outcome: str | None = None
    last_reason: str = ""
    last_batch_id: str | None = None


@dataclass(frozen=True)
class SlotRecord:
    """One slot a scheduler took, and what came of it."""

    schedule_name: str
    slot: datetime
    taken_at: datetime
    taken_by: str
    outcome: str | None
    reason: str
    batch_id: str | None


_INSERT = text(
    "INSERT INTO schedules (name, cron, timezone, source, flow, options, paused, created_at,"
    " since) VALUES (:name, :cron, :timezone, :source, :flow, :options, 0, :created_at, :since)"
    " ON CONFLICT (name) DO NOTHING"
)
_TAKE = text(
    "INSERT INTO schedule_runs (schedule_name, slot, taken_at, taken_by)"
    " VALUES (:name, :slot, :now, :by) ON CONFLICT (schedule_name, slot) DO NOTHING"
)
_ADVANCE = text(
    "UPDATE schedules SET last_slot = :slot WHERE name = :name AND paused = 0"
    " AND since < :slot AND (last_slot IS NULL OR last_slot < :slot)"
)
_SETTLE_RUN = text(
    "UPDATE schedule_runs SET outcome = :outcome, reason = :reason, batch_id = :batch_id"
    " WHERE schedule_name = :name AND slot = :slot"
)
_SETTLE_SCHEDULE = text(
    "UPDATE schedules SET last_outcome = :outcome, last_reason = :reason,"
    " last_batch_id = COALESCE(:batch_id, last_batch_id) WHERE name = :name AND last_slot = :slot"
)


class _Lost(Exception):
    """Raised inside a transaction to roll it back: another instance took the slot."""


def _record(row: RowMapping) -> ScheduleRecord:
    return ScheduleRecord(
        name=row["name"],
        cron=row["cron"],
        timezone=row["timezone"],
        source=row["source"],
        flow=row["flow"],
        options=json.loads(row["options"]),
        paused=bool(row["paused"]),
        created_at=codec.from_iso(row["created_at"]),
        since=codec.from_iso(row["since"]),
        last_slot=codec.from_iso(row["last_slot"]),
        last_outcome=row["last_outcome"],
        last_reason=row["last_reason"],
        last_batch_id=row["last_batch_id"],
    )


class ScheduleStore:
    """Schedules in a ``ManifestStore``'s database."""

    def __init__(self, store: ManifestStore) -> None:
        self.store = store

    def _unknown(self, name: str) -> ConfigurationError:
        return ConfigurationError(
            f"no schedule {name!r} in the store {self.store.url} "
            "(`batchwright schedule list` shows them)"
        )

    def add(self, record: ScheduleRecord, now: datetime) -> None:
        """Store a new schedule; its slots after ``now`` fire. Refuses a taken name."""
        params = {
            "name": record.name,
            "cron": record.cron,
            "timezone": record.timezone,
            "source": record.source,
            "flow": record.flow,
            "options": codec.dumps(dict(record.options)),
            "created_at": codec.to_iso(now),
            "since": codec.to_iso(now),
        }
        with self.store.transaction() as conn:
            if conn.execute(_INSERT, params).rowcount != 1:
                raise ConfigurationError(
                    f"a schedule named {record.name!r} already exists "
                    "(`batchwright schedule remove` it first, or pick another name)"
                )

    def get(self, name: str) -> ScheduleRecord:
        with self.store.transaction(write=False) as conn:
            row = self._row(conn, name)
        if row is None:
            raise self._unknown(name)
        return _record(row)

    @staticmethod
    def _row(conn: Connection, name: str) -> RowMapping | None:
        query = text("SELECT * FROM schedules WHERE name = :name")
        return conn.execute(query, {"name": name}).mappings().fetchone()

    def all(self) -> list[ScheduleRecord]:
        """Every schedule, by name."""
        with self.store.transaction(write=False) as conn:
            rows = conn.execute(text("SELECT * FROM schedules ORDER BY name")).mappings()
            return [_record(row) for row in rows]

    def set_paused(self, name: str, paused: bool, now: datetime) -> None:
        """Pause, or resume: the slots a pause spanned do not fire afterwards."""
        query = (
            "UPDATE schedules SET paused = :paused WHERE name = :name"
            if paused
            else "UPDATE schedules SET paused = 0, since = :now WHERE name = :name AND paused = 1"
        )
        with self.store.transaction() as conn:
            if self._row(conn, name) is None:
                raise self._unknown(name)
            conn.execute(
                text(query), {"paused": int(paused), "name": name, "now": codec.to_iso(now)}
            )

    def remove(self, name: str) -> None:
        """Delete the schedule and its slot history (its batches stay)."""
        with self.store.transaction() as conn:
            conn.execute(
                text("DELETE FROM schedule_runs WHERE schedule_name = :name"), {"name": name}
            )
            if (
                conn.execute(
                    text("DELETE FROM schedules WHERE name = :name"), {"name": name}
                ).rowcount
                != 1
            ):
                raise self._unknown(name)

    def take_slot(self, name: str, slot: datetime, taken_by: str, now: datetime) -> bool:
        """Claim ``slot`` for ``taken_by``: True for exactly one caller per (schedule, slot),
        and never for a slot older than one already taken, nor while paused."""
        params = {
            "name": name,
            "slot": codec.to_iso(slot),
            "now": codec.to_iso(now),
            "by": taken_by,
        }
        try:
            with self.store.transaction() as conn:
                if conn.execute(_TAKE, params).rowcount != 1:
                    return False
                if conn.execute(_ADVANCE, params).rowcount != 1:
                    raise _Lost
        except _Lost:
            return False
        return True

    def settle_slot(
        self, name: str, slot: datetime, outcome: str, reason: str = "", batch_id: str | None = None
    ) -> None:
        """What came of a taken slot: ``fired`` (with its batch), ``skipped`` or ``failed``."""
        params = {
            "name": name,
            "slot": codec.to_iso(slot),
            "outcome": outcome,
            "reason": reason,
            "batch_id": batch_id,
        }
        with self.store.transaction() as conn:
            conn.execute(_SETTLE_RUN, params)
            conn.execute(_SETTLE_SCHEDULE, params)

    def runs(self, name: str, limit: int = 20) -> list[SlotRecord]:
        """The schedule's slots, newest first."""
        query = text(
            "SELECT * FROM schedule_runs WHERE schedule_name = :name"
            " ORDER BY slot DESC LIMIT :limit"
        )
        with self.store.transaction(write=False) as conn:
            rows = conn.execute(query, {"name": name, "limit": limit}).mappings().fetchall()
        return [
            SlotRecord(
                schedule_name=row["schedule_name"],
                slot=datetime.fromisoformat(row["slot"]),
                taken_at=datetime.fromisoformat(row["taken_at"]),
                taken_by=row["taken_by"],
                outcome=row["outcome"],
                reason=row["reason"],
                batch_id=row["batch_id"],
            )
            for row in rows
        ]

    def schedule_of(self, batch_id: str) -> str | None:
        """The schedule that fired ``batch_id``, if one did."""
        query = text("SELECT schedule_name FROM schedule_runs WHERE batch_id = :batch_id")
        with self.store.transaction(write=False) as conn:
            row = conn.execute(query, {"batch_id": batch_id}).fetchone()
        return None if row is None else str(row[0])
