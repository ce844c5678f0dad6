"""Cron slots on the UTC time line, across Europe/Paris's two DST changes of 2026
(spring: 29 March, 02:00 -> 03:00; autumn: 25 October, 03:00 -> 02:00)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from batch.exceptions import ConfigurationError
from batch.schedule.cron import CronSchedule, parse_cron


def slots(cron: CronSchedule, start: datetime, end: datetime) -> list[str]:
    """Every slot in (start, end], as local wall times with their offsets."""
    found = []
    moment = start
    while (moment := cron.following(moment)) <= end:
        found.append(moment.astimezone(cron.zone).isoformat(timespec="minutes"))
    return found


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_daily_slot_keeps_its_wall_time_across_both_changes() -> None:
    cron = parse_cron("0 2 * * *", "Europe/Paris")
    spring = slots(cron, utc(2026, 3, 27), utc(2026, 3, 30, 12))
    # 29 March has no 02:00: the slot fires at the change, 03:00 CEST, once
    assert spring == [
        "2026-03-27T02:00+01:00",
        "2026-03-28T02:00+01:00",
        "2026-03-29T03:00+02:00",
        "2026-03-30T02:00+02:00",
    ]
    autumn = slots(cron, utc(2026, 10, 22, 12), utc(2026, 10, 26, 12))
    # 25 October has two 02:00s: the first one fires, the repeat does not
    assert autumn == [
        "2026-10-23T02:00+02:00",
        "2026-10-24T02:00+02:00",
        "2026-10-25T02:00+02:00",
        "2026-10-26T02:00+01:00",
    ]


def test_half_hourly_slots_across_the_changes_are_distinct_and_increasing() -> None:
    cron = parse_cron("*/30 * * * *", "Europe/Paris")
    spring = slots(cron, utc(2026, 3, 28, 23, 45), utc(2026, 3, 29, 2, 0))
    # the skipped 02:00 and 02:30 collapse onto the change (03:00 CEST), fired once
    assert spring == [
        "2026-03-29T01:00+01:00",
        "2026-03-29T01:30+01:00",
        "2026-03-29T03:00+02:00",
        "2026-03-29T03:30+02:00",
        "2026-03-29T04:00+02:00",
    ]
    autumn = slots(cron, utc(2026, 10, 24, 23, 45), utc(2026, 10, 25, 3, 0))
    assert autumn == [
        "2026-10-25T02:00+02:00",
        "2026-10-25T02:30+02:00",
        "2026-10-25T03:00+01:00",
        "2026-10-25T03:30+01:00",
        "2026-10-25T04:00+01:00",
    ]


def test_latest_is_the_newest_slot_at_or_before_now_even_inside_the_repeated_hour() -> None:
    cron = parse_cron("30 2 * * *", "Europe/Paris")
    # 01:10 UTC on 25 October is the second 02:10 in Paris: today's 02:30 already fired
    assert cron.latest(utc(2026, 10, 25, 1, 10)) == utc(2026, 10, 25, 0, 30)
    assert cron.latest(utc(2026, 10, 25, 0, 30)) == utc(2026, 10, 25, 0, 30)
    assert cron.latest(utc(2026, 10, 25, 0, 29)) == utc(2026, 10, 24, 0, 30)
    # spring: the skipped 02:30 is at the change, 01:00 UTC
    assert cron.latest(utc(2026, 3, 29, 1, 0)) == utc(2026, 3, 29, 1, 0)
    assert cron.following(utc(2026, 3, 29, 1, 0)) == utc(2026, 3, 30, 0, 30)


@pytest.mark.parametrize("start", [utc(2026, 3, 22), utc(2026, 10, 18)])
def test_every_slot_around_a_change_is_later_than_the_one_before(start: datetime) -> None:
    cron = parse_cron("15,45 * * * *", "Europe/Paris")
    moment, previous = start, None
    for _ in range(2 * 24 * 14):
        moment = cron.following(moment)
        assert previous is None or previous < moment <= previous + timedelta(hours=1, minutes=30)
        previous = moment


@pytest.mark.parametrize(
    ("cron", "zone", "expected"),
    [
        ("61 * * * *", "UTC", "--cron '61 * * * *' is not a valid cron expression"),
        ("0 2 * *", "UTC", "--cron '0 2 * *' has 4 fields"),
        ("every day", "UTC", "--cron 'every day' has 2 fields"),
        ("0 2 * * mon-xyz", "UTC", "--cron '0 2 * * mon-xyz' is not a valid"),
        ("0 0 31 2 *", "UTC", "--cron '0 0 31 2 *' never fires"),  # no 31 February
        ("0 2 * * *", "Europe/Pariss", "--tz 'Europe/Pariss' is not a known time zone"),
        ("0 2 * * *", "../etc/passwd", "--tz '../etc/passwd' is not a known time zone"),
    ],
)
def test_a_bad_expression_or_zone_is_refused_naming_the_field(
    cron: str, zone: str, expected: str
) -> None:
    with pytest.raises(ConfigurationError, match="^" + expected.replace("*", r"\*")):
        parse_cron(cron, zone)
