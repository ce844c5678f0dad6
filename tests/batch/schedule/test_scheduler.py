"""The ``Scheduler`` on a real store with an injected clock: a due slot fires once,
missed slots give one catch-up run, a schedule whose batch still runs skips, a pause
holds, a failing slot says why, and a fired batch runs against the site."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from batch.engine import BatchEngine
from batch.models import BatchStatus, JobStatus
from batch.run.ownership import taking
from batch.schedule import (
    DailyRetention,
    Scheduler,
    add_schedule,
    in_background,
    list_schedules,
    run_in_process,
    run_scheduler,
)
from batch.store import ManifestStore
from batch.store._schedules import ScheduleRecord, ScheduleStore

from .conftest import Recorder

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
EngineFactory = Callable[[Mapping[str, Any]], BatchEngine]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def nightly(store: ManifestStore, csv_file: Path, make_settings: Any, **options: Any) -> None:
    """``nightly``: 02:00 UTC every day, added at T0."""
    settings = make_settings()
    add_schedule(
        store, "nightly", "0 2 * * *", "UTC", csv_file, "add_customer.yaml", options, settings, T0
    )


async def test_a_due_slot_fires_once_and_its_batch_records_the_schedule(
    store: ManifestStore,
    csv_file: Path,
    make_settings: Any,
    engine_factory: EngineFactory,
    recorder: Recorder,
) -> None:
    nightly(store, csv_file, make_settings, priority="high", concurrency=3)
    scheduler = Scheduler(store, recorder, engine_factory)
    assert await scheduler.tick(at(1, 23)) == [], "added at 09:00: today's 02:00 is past"
    (fired,) = await scheduler.tick(at(2, 2, 0))
    assert (fired.schedule, fired.slot, fired.outcome) == ("nightly", at(2, 2), "fired")
    assert await scheduler.tick(at(2, 2, 1)) == [], "the same slot never twice"
    (launch,) = recorder.launches
    assert (launch.batch_ids, launch.group_id, launch.priority) == ((fired.batch_id,), None, "high")
    assert launch.engine.settings.concurrency == 3
    manifest = store.get_manifest(launch.batch_ids[0])
    assert manifest.settings["schedule"] == {"name": "nightly", "slot": at(2, 2).isoformat()}
    assert manifest.total == 2
    assert ScheduleStore(store).schedule_of(launch.batch_ids[0]) == "nightly"
    (view,) = list_schedules(store, at(2, 3))
    assert (view.last_slot, view.last_outcome, view.last_batch_id) == (
        at(2, 2),
        "fired",
        launch.batch_ids[0],
    )
    assert view.last_batch == {"status": "created", "total": 2, "counts": {"pending": 2}}
    assert view.next_run == at(3, 2)


async def test_slots_missed_while_nothing_ran_give_one_catch_up_run(
    store: ManifestStore,
    csv_file: Path,
    make_settings: Any,
    engine_factory: EngineFactory,
    recorder: Recorder,
) -> None:
    nightly(store, csv_file, make_settings)
    scheduler = Scheduler(store, recorder, engine_factory)
    # no scheduler ran for five nights: one run, for the newest slot
    results = await scheduler.tick(at(6, 15))
    assert [(r.slot, r.outcome) for r in results] == [(at(6, 2), "fired")]
    assert await scheduler.tick(at(6, 16)) == []
    assert len(store.list_batches()) == 1
    (again,) = await scheduler.tick(at(7, 2, 5))
    assert again.slot == at(7, 2)
    assert len(recorder.launches) == 2


async def test_a_schedule_whose_previous_batch_still_runs_skips_the_slot(
    store: ManifestStore,
    csv_file: Path,
    make_settings: Any,
    engine_factory: EngineFactory,
    recorder: Recorder,
) -> None:
    nightly(store, csv_file, make_settings)
    scheduler = Scheduler(store, recorder, engine_factory)
    (first,) = await scheduler.tick(at(2, 2))
    assert first.batch_id is not None
    with taking(store, first.batch_id) as owner:  # an engine runs it (a real lease)
        (skipped,) = await scheduler.tick(at(3, 2))
    assert skipped.outcome == "skipped"
    assert skipped.reason == f"previous batch {first.batch_id} still runs (engine {owner} runs it)"
    assert len(store.list_batches()) == 1
    (view,) = list_schedules(store, at(3, 3))
    assert (view.last_outcome, view.last_reason) == ("skipped", skipped.reason)
    assert view.last_batch_id == first.batch_id, "the last batch it fired"
    (fired,) = await scheduler.tick(at(4, 2))
    assert fired.outcome == "fired", "once the batch is done, the next slot fires"


async def test_a_batch_its_launcher_still_holds_skips_the_slot_without_a_lease(
    store: ManifestStore,
    csv_file: Path,
    make_settings: Any,
    engine_factory: EngineFactory,
    recorder: Recorder,
) -> None:
    """The service queues a fired batch behind ``max_running_batches``: no engine holds
    it yet, but it has not run either."""
    nightly(store, csv_file, make_settings)
    queued: set[str] = set()
    scheduler = Scheduler(store, recorder, engine_factory, held_here=queued.__contains__)
    (first,) = await scheduler.tick(at(2, 2))
    assert first.batch_id is not None
    queued.add(first.batch_id)
    (skipped,) = await scheduler.tick(at(3, 2))
    assert (skipped.outcome, skipped.reason) == (
        "skipped",
        f"previous batch {first.batch_id} still runs (queued here)",
    )
    queued.clear()
    (fired,) = await scheduler.tick(at(4, 2))
    assert fired.outcome == "fired"


async def test_a_stored_schedule_that_cannot_fire_does_not_stop_the_others(
    store: ManifestStore,
    csv_file: Path,
    make_settings: Any,
    engine_factory: EngineFactory,
    recorder: Recorder,
) -> None:
    """A cron an older batchwright let through (31 February) is logged and passed over."""
    broken = ScheduleRecord("broken", "0 0 31 2 *", "UTC", str(csv_file), "add_customer.yaml")
    ScheduleStore(store).add(broken, T0)
    nightly(store, csv_file, make_settings)
    scheduler = Scheduler(store, recorder, engine_factory)
    assert [(r.schedule, r.outcome) for r in await scheduler.tick(at(2, 2))] == [
        ("nightly", "fired")
    ]
    views = {view.name: view for view in list_schedules(store, at(2, 3))}
    assert views["broken"].next_run is None
    assert views["nightly"].next_run == at(3, 2)


async def test_a_paused_schedule_fires_nothing_and_resumes_at_its_next_slot(
    store: ManifestStore,
    csv_file: Path,
    make_settings: Any,
    engine_factory: EngineFactory,
    recorder: Recorder,
) -> None:
    nightly(store, csv_file, make_settings)
    scheduler = Scheduler(store, recorder, engine_factory)
    ScheduleStore(store).set_paused("nightly", True, at(1, 12))
    assert await scheduler.tick(at(3, 12)) == []
    (view,) = list_schedules(store, at(3, 12))
    assert view.paused
    assert view.next_run is None
    ScheduleStore(store).set_paused("nightly", False, at(4, 12))
    assert await scheduler.tick(at(4, 13)) == [], "the slots of the pause are not caught up"
    assert [r.slot for r in await scheduler.tick(at(5, 2))] == [at(5, 2)]


async def test_a_slot_whose_csv_vanished_fails_saying_why_and_the_next_one_still_fires(
    store: ManifestStore,
    csv_file: Path,
    make_settings: Any,
    engine_factory: EngineFactory,
    recorder: Recorder,
) -> None:
    nightly(store, csv_file, make_settings)
    scheduler = Scheduler(store, recorder, engine_factory)
    moved = await asyncio.to_thread(csv_file.rename, csv_file.with_suffix(".bak"))
    (failed,) = await scheduler.tick(at(2, 2))
    assert failed.outcome == "failed"
    assert "customers.csv" in failed.reason
    assert "no such file" in failed.reason.lower()
    assert store.list_batches() == []
    await asyncio.to_thread(moved.rename, csv_file)
    (fired,) = await scheduler.tick(at(3, 2))
    assert fired.outcome == "fired"


async def test_two_schedulers_in_one_process_fire_a_slot_once(
    store: ManifestStore,
    csv_file: Path,
    make_settings: Any,
    engine_factory: EngineFactory,
    recorder: Recorder,
) -> None:
    nightly(store, csv_file, make_settings)
    with ManifestStore.for_settings(make_settings()) as other_store:
        schedulers = [
            Scheduler(store, recorder, engine_factory, instance="a"),
            Scheduler(other_store, recorder, engine_factory, instance="b"),
        ]
        results = await asyncio.gather(*(s.tick(at(2, 2)) for s in schedulers))
    assert sorted(len(r) for r in results) == [0, 1]
    assert len(recorder.launches) == 1


def done(store: ManifestStore, artifacts: Path) -> bool:
    """The one batch finished, its reports written and its engine gone."""
    batches = store.list_batches()
    if not batches or batches[0].status is not BatchStatus.FINISHED:
        return False
    batch_id = batches[0].batch_id
    return (artifacts / batch_id / "report.html").is_file() and not store.batch_owner(batch_id)


@pytest.mark.browser
async def test_the_loop_fires_a_batch_that_runs_against_the_site_in_the_background(
    store: ManifestStore,
    csv_file: Path,
    make_settings: Any,
    engine_factory: EngineFactory,
    site: Any,
) -> None:
    nightly(store, csv_file, make_settings)
    scheduler = Scheduler(store, in_background(run_in_process), engine_factory)
    stop = asyncio.Event()
    clock = iter([at(2, 2, 0), *(at(2, 2, 1) for _ in range(10_000))])
    loop = asyncio.create_task(
        run_scheduler(
            scheduler,
            stop,
            interval=0.05,
            retention=DailyRetention(make_settings()),
            clock=lambda: next(clock),
        )
    )
    try:
        for _ in range(600):  # the batch runs in real Chromium: up to 60 s
            if done(store, make_settings().artifacts_dir):
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await loop
    (batch,) = store.list_batches()
    assert batch.status is BatchStatus.FINISHED
    assert batch.counts == {JobStatus.COMPLETED: 2}
    assert batch.settings["schedule"]["name"] == "nightly"
    with site.state.lock:
        assert {c["email"] for c in site.state.customers} == {
            "ada@example.com",
            "grace@example.com",
        }
    assert (make_settings().artifacts_dir / batch.batch_id / "report.html").is_file()
    (view,) = list_schedules(store, at(2, 3))
    assert view.last_batch["status"] == "finished"


def test_an_invalid_schedule_is_refused_before_it_is_stored(
    store: ManifestStore, csv_file: Path, make_settings: Any
) -> None:
    settings = make_settings()

    def add(**changes: Any) -> None:
        values: dict[str, Any] = {
            "name": "n",
            "cron": "0 2 * * *",
            "timezone": "UTC",
            "source": csv_file,
            "flow": "add_customer.yaml",
            "options": {},
        } | changes
        add_schedule(store, settings=settings, now=T0, **values)

    cases = {
        "--cron '0 25 * * *' is not a valid": {"cron": "0 25 * * *"},
        "--tz 'Mars/Olympus' is not a known time zone": {"timezone": "Mars/Olympus"},
        "no such CSV file or directory": {"source": csv_file.with_name("nope.csv")},
        "schedule name 'a b'": {"name": "a b"},
        "setting 'max_retries' = -1": {"options": {"max_retries": -1}},
        "setting 'priority' = 'urgent'": {"options": {"priority": "urgent"}},
        "option(s) store_url cannot be set": {"options": {"store_url": "sqlite:///x"}},
    }
    for message, changes in cases.items():
        with pytest.raises(
            Exception, match=message.replace("*", r"\*").replace("(", r"\(").replace(")", r"\)")
        ):
            add(**changes)
    assert ScheduleStore(store).all() == []
