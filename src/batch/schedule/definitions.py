"""Adding, listing, pausing and removing schedules: the checks happen here, once,
so a stored schedule is one the scheduler can fire (its cron, zone, flow and options
valid); what may still fail at a slot (the CSV changed or vanished) is recorded."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from batch.exceptions import BatchNotFoundError, ConfigurationError
from batch.groups.summary import group_status
from batch.ingest.sources import is_pattern
from batch.models import BatchStatus
from batch.schedule.cron import parse_cron
from batch.settings import BatchSettings, load_settings
from batch.store import ManifestStore
from batch.store._schedules import ScheduleRecord, ScheduleStore
from runtime.flows.model import load_flow

__all__ = ["RUN_OPTIONS", "ScheduleView", "add_schedule", "list_schedules"]

RUN_OPTIONS = frozenset(
    {
        "base_dir", "base_url", "concurrency", "max_retries", "isolation", "rate", "delay_s",
        "priority", "max_failures", "secrets", "trace", "skip_completed", "headless",
    }
)  # fmt: skip
"""The settings a schedule may fix for its batches (the rest are the service's)."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - RUN_OPTIONS)
    if unknown:
        raise ConfigurationError(
            f"schedule option(s) {', '.join(unknown)} cannot be set per schedule "
            f"(allowed: {', '.join(sorted(RUN_OPTIONS))})"
        )
    given = {k: v for k, v in options.items() if v is not None}
    load_settings(given, read_env=False)  # refuses a bad value, naming the setting
    return {k: sorted(v) if isinstance(v, (set, frozenset)) else v for k, v in given.items()}


def _source(path: Path, base_dir: Path) -> str:
    """A CSV file, a directory of CSVs or a glob pattern, absolute (a directory or a
    pattern fires a group each slot: whatever files it holds then)."""
    target = path if path.is_absolute() else base_dir / path
    if is_pattern(path):
        return str(target)
    if target.is_dir():
        return str(target.resolve())
    if not target.is_file():
        raise ConfigurationError(f"no such CSV file or directory: {path}")
    return str(target.resolve())


def _flow(flow: str, base_dir: Path) -> str:
    load_flow(flow, base_dir=base_dir)  # refuses a missing or broken flow now, not at 2 am
    candidate = Path(flow) if Path(flow).is_absolute() else base_dir / flow
    return str(candidate.resolve()) if candidate.is_file() else flow


def add_schedule(  # noqa: PLR0917 - the command's arguments, named
    store: ManifestStore,
    name: str,
    cron: str,
    timezone: str,
    source: str | Path,
    flow: str,
    options: Mapping[str, Any],
    settings: BatchSettings,
    now: datetime,
) -> ScheduleRecord:
    """Check everything and store the schedule; its first slot is the first after ``now``.

    Relative paths are taken from ``settings.base_dir``, which the batches keep too
    (the CSV path guard applies to them as to ``run``)."""
    if not _NAME.fullmatch(name):
        raise ConfigurationError(
            f"schedule name {name!r}: use 1 to 64 letters, digits, '.', '_' or '-'"
        )
    parse_cron(cron, timezone)
    checked = _check_options({"base_dir": str(settings.base_dir), **options})
    base_dir = Path(checked["base_dir"])
    record = ScheduleRecord(
        name=name,
        cron=" ".join(cron.split()),
        timezone=timezone,
        source=_source(Path(source), base_dir),
        flow=_flow(flow, base_dir),
        options=checked,
    )
    ScheduleStore(store).add(record, now)
    return ScheduleStore(store).get(name)


@dataclass(frozen=True)
class ScheduleView:
    """A schedule as ``schedule list`` shows it (``--json``: ``to_dict()``)."""

    name: str
    cron: str
    timezone: str
    source: str
    flow: str
    paused: bool
    next_run: datetime | None
    last_slot: datetime | None
    last_outcome: str | None
    last_reason: str
    last_batch_id: str | None
    """The last fired batch's id, or the last fired group's."""
    last_batch: dict[str, Any] = field(default_factory=dict)
    """The last fired batch's (or group's) status and counts (empty: none fired)."""
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("next_run", "last_slot"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data


def _batch_state(store: ManifestStore, fired_id: str | None) -> dict[str, Any]:
    """The last fired batch's status and counts (``pruned`` once a prune removed it); of
    a group: its batches' summed, with how many batches it has, how many files it
    refused and how many of its batches were pruned (no status once all were)."""
    if fired_id is None:
        return {}
    group = store.find_group(fired_id)
    ids = group.batch_ids if group is not None else [fired_id]
    statuses: list[BatchStatus] = []
    total, counts = 0, Counter[str]()
    for batch_id in ids:
        try:
            manifest = store.get_manifest(batch_id)
        except BatchNotFoundError:
            continue  # pruned meanwhile
        statuses.append(manifest.status)
        total += manifest.total
        counts.update({status.value: n for status, n in manifest.counts.items() if n})
    if group is None:
        if not statuses:
            return {"pruned": True}
        return {"status": statuses[0].value, "total": total, "counts": dict(counts)}
    state: dict[str, Any] = {
        "group": True,
        "batches": len(group.batch_ids),
        "refused": len(group.refused),
        "pruned_batches": len(group.pruned),
    }
    if statuses:
        state.update(status=group_status(statuses), total=total, counts=dict(counts))
    return state


def list_schedules(store: ManifestStore, now: datetime) -> list[ScheduleView]:
    """Every schedule with its next slot after ``now`` and its last result."""
    views = []
    for record in ScheduleStore(store).all():
        try:
            next_run = (
                None if record.paused else parse_cron(record.cron, record.timezone).following(now)
            )
        except ConfigurationError:  # stored by an older batchwright that let it pass
            next_run = None
        views.append(
            ScheduleView(
                name=record.name,
                cron=record.cron,
                timezone=record.timezone,
                source=record.source,
                flow=record.flow,
                paused=record.paused,
                next_run=next_run,
                last_slot=record.last_slot,
                last_outcome=record.last_outcome,
                last_reason=record.last_reason,
                last_batch_id=record.last_batch_id,
                last_batch=_batch_state(store, record.last_batch_id),
                options=record.options,
            )
        )
    return views
