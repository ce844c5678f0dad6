"""The schedules' tables on both backends: a slot taken once, never an older one, never
while paused; what a slot gave; a batch's schedule."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from batch.exceptions import ConfigurationError
from batch.store import ManifestStore, StoreUrl
from batch.store._schedules import ScheduleRecord, ScheduleStore

T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def record(name: str = "nightly") -> ScheduleRecord:
    return ScheduleRecord(
        name=name,
        cron="0 2 * * *",
        timezone="Europe/Paris",
        source="/data/clients.csv",
        flow="/data/flow.yaml",
        options={"concurrency": 2, "priority": "high", "secrets": ["password"]},
    )


@pytest.fixture
def schedules(store: ManifestStore) -> ScheduleStore:
    added = ScheduleStore(store)
    added.add(record(), T0)
    return added


def test_a_schedule_reads_back_as_added(schedules: ScheduleStore) -> None:
    got = schedules.get("nightly")
    assert (got.cron, got.timezone, got.source, got.flow) == (
        "0 2 * * *",
        "Europe/Paris",
        "/data/clients.csv",
        "/data/flow.yaml",
    )
    assert dict(got.options) == {"concurrency": 2, "priority": "high", "secrets": ["password"]}
    assert got.since == got.created_at == T0
    assert got.last_slot is None
    assert not got.paused
    with pytest.raises(ConfigurationError, match="'nightly' already exists"):
        schedules.add(record(), T0)
    with pytest.raises(ConfigurationError, match="no schedule 'other'"):
        schedules.get("other")


def test_a_slot_is_taken_once_and_never_an_older_one(schedules: ScheduleStore) -> None:
    slot = T0 + timedelta(hours=1)
    assert schedules.take_slot("nightly", slot, "a", T0)
    assert not schedules.take_slot("nightly", slot, "b", T0), "the same slot twice"
    assert not schedules.take_slot("nightly", slot - timedelta(minutes=30), "b", T0), "older"
    assert not schedules.take_slot("nightly", T0, "b", T0), "not after its creation"
    assert schedules.get("nightly").last_slot == slot
    assert [(r.slot, r.taken_by, r.outcome) for r in schedules.runs("nightly")] == [
        (slot, "a", None)
    ]


def test_a_paused_schedule_takes_no_slot_and_resuming_skips_the_paused_ones(
    schedules: ScheduleStore,
) -> None:
    schedules.set_paused("nightly", True, T0)
    assert not schedules.take_slot("nightly", T0 + timedelta(hours=1), "a", T0)
    resumed_at = T0 + timedelta(hours=5)
    schedules.set_paused("nightly", False, resumed_at)
    assert schedules.get("nightly").since == resumed_at
    assert not schedules.take_slot("nightly", T0 + timedelta(hours=2), "a", resumed_at)
    assert schedules.take_slot("nightly", T0 + timedelta(hours=6), "a", resumed_at)


def test_many_threads_on_one_slot_take_it_once(store_url: StoreUrl) -> None:
    with ManifestStore(store_url) as setup:
        ScheduleStore(setup).add(record(), T0)
    won: list[str] = []
    barrier = threading.Barrier(6)

    def contender(name: str) -> None:
        with ManifestStore(store_url) as own:  # a connection (and, on SQLite, a file handle) each
            barrier.wait()
            for hour in range(1, 11):
                if ScheduleStore(own).take_slot("nightly", T0 + timedelta(hours=hour), name, T0):
                    won.append(name)

    threads = [threading.Thread(target=contender, args=(f"t{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 10, won


def test_what_a_slot_gave_is_kept_with_the_batch_it_fired(schedules: ScheduleStore) -> None:
    first, second = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    schedules.take_slot("nightly", first, "a", T0)
    schedules.settle_slot("nightly", first, "fired", "", "batch-1")
    assert schedules.schedule_of("batch-1") == "nightly"
    schedules.take_slot("nightly", second, "a", T0)
    schedules.settle_slot("nightly", second, "skipped", "previous batch batch-1 still runs")
    got = schedules.get("nightly")
    assert (got.last_outcome, got.last_reason, got.last_batch_id) == (
        "skipped",
        "previous batch batch-1 still runs",
        "batch-1",
    )
    assert [r.outcome for r in schedules.runs("nightly")] == ["skipped", "fired"]
    schedules.remove("nightly")
    assert schedules.schedule_of("batch-1") is None
    with pytest.raises(ConfigurationError, match="no schedule 'nightly'"):
        schedules.remove("nightly")
