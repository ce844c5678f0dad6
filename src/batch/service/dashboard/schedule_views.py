"""What the schedules page shows of each schedule (``list_schedules``, as ``schedule
list`` and the API read it): times in the schedule's own zone, as its cron reads, and
its last result with a link to the batch or group it fired (none once pruned)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from batch.schedule import ScheduleView

__all__ = ["ScheduleRow", "schedule_row"]


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    view: ScheduleView
    next_run: str
    """In the schedule's zone; empty while paused."""
    last_run: str
    result: str
    """The last fired batch's (or group's) status and counts; empty when none fired."""
    last_url: str | None
    """Its page on the dashboard; None when nothing fired or a prune removed it."""

    @property
    def api_url(self) -> str:
        return f"/api/v1/schedules/{quote(self.view.name, safe='')}"


def _local(moment: datetime | None, zone: str) -> str:
    """``moment`` in ``zone``, to the minute, as the CLI's ``schedule list`` shows it."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone)).isoformat(sep=" ", timespec="minutes")


def _result(state: Mapping[str, Any]) -> str:
    """As ``schedule list`` words it: ``finished: completed 2`` (a group: its batches)."""
    if "status" not in state:
        return "pruned" if state else ""
    shown = ", ".join(f"{status} {n}" for status, n in state.get("counts", {}).items())
    text = f"{state['status']}: {shown}" if shown else str(state["status"])
    if state.get("group"):
        text += f" ({state['batches']} batches, {state['refused']} refused)"
    return text


def schedule_row(view: ScheduleView) -> ScheduleRow:
    fired, state = view.last_batch_id, view.last_batch
    url = None
    if fired is not None and "status" in state:
        kind = "groups" if state.get("group") else "batches"
        url = f"/{kind}/{quote(fired, safe='')}"
    return ScheduleRow(
        view=view,
        next_run="" if view.paused else _local(view.next_run, view.timezone),
        last_run=_local(view.last_slot, view.timezone),
        result=_result(view.last_batch),
        last_url=url,
    )
