"""Cron slots in a time zone, across daylight-saving changes.

croniter walks the wall clock (naive local times, where DST does not exist); each
wall time is then placed on the UTC time line here, with one rule for the two
changes a year: a wall time the spring change skips fires at the change itself
(once, however many skipped times the expression names), and a wall time the
autumn change repeats fires once, the first time it occurs. Slots are UTC
instants, so two service instances in different zones agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter

from batch.exceptions import ConfigurationError

__all__ = ["CronSchedule", "parse_cron", "parse_zone"]

_MARGIN = timedelta(hours=3)
"""Wider than any DST shift: where a walk over wall times starts around a UTC instant."""


def parse_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (``Europe/Paris``); refused with a clear message."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"--tz {name!r} is not a known time zone: use an IANA name such as "
            "Europe/Paris, America/New_York or UTC"
        ) from None


def parse_cron(expression: str, zone: str = "UTC") -> CronSchedule:
    """A five-field cron expression (``0 2 * * *``) in ``zone``; refused with a clear
    message naming the field."""
    fields = expression.split()
    if len(fields) != 5:
        raise ConfigurationError(
            f"--cron {expression!r} has {len(fields)} fields; a cron expression has five: "
            "minute hour day-of-month month day-of-week (e.g. '0 2 * * *')"
        )
    try:
        croniter(expression, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError:  # valid fields naming no real date: 31 February
        raise ConfigurationError(
            f"--cron {expression!r} never fires: its day and month name no real date"
        ) from None
    except (CroniterError, ValueError) as exc:
        raise ConfigurationError(
            f"--cron {expression!r} is not a valid cron expression: {exc}"
        ) from None
    return CronSchedule(expression, parse_zone(zone))


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall time ``wall`` in ``zone``: the first occurrence of a
    repeated time; the moment of the change for a skipped one."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first  # exists (fold=0 is the earlier of two occurrences)
    # Skipped by a spring change: the change lies between the two readings.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = first
    before = low.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


@dataclass(frozen=True)
class CronSchedule:
    """A checked cron expression in a zone; slots are aware UTC datetimes."""

    expression: str
    zone: ZoneInfo

    def _wall(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone).replace(tzinfo=None)

    def latest(self, now: datetime) -> datetime:
        """The newest slot at or before ``now``."""
        walker = croniter(self.expression, self._wall(now + _MARGIN))
        while True:
            slot = _instant(walker.get_prev(datetime), self.zone)
            if slot <= now:
                return slot

    def following(self, now: datetime) -> datetime:
        """The first slot after ``now``."""
        walker = croniter(self.expression, self._wall(now - _MARGIN))
        while True:
            slot = _instant(walker.get_next(datetime), self.zone)
            if slot > now:
                return slot
