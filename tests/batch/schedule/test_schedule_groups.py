"""A schedule on a directory: one group per slot (the refused file recorded in it,
the other files run), each batch of it recording the schedule, ``schedule list``
showing the group's result, and a slot skipped while a batch of the previous group
still runs. A real store and real files; a ``ScriptedRunner`` plays the rows (the
browser is not the point) and the clock is injected."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from batch.engine import BatchEngine
from batch.models import BatchStatus
from batch.run.ownership import taking
from batch.schedule import Scheduler, add_schedule, list_schedules, run_in_process
from batch.store import ManifestStore
from runtime.run_context import RunContext
from runtime.runners.fake import ScriptedRunner

from .conftest import Recorder, no_sleep

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 12, day, hour, tzinfo=UTC)


@pytest.fixture
def folder(csv_file: Path) -> Path:
    """3 good CSVs (two rows each) and 1 refused (not the flow's columns) in ``exports/``."""
    exports = csv_file.parent / "exports"
    exports.mkdir()
    for name in ("a.csv", "b.csv", "c.csv"):
        (exports / name).write_text(csv_file.read_text(encoding="utf-8"), encoding="utf-8")
    (exports / "bad.csv").write_text("colour,size\nred,2\n", encoding="utf-8")
    return exports


@pytest.fixture
def scripted_factory(
    make_settings: Any,
) -> Iterator[Callable[[Mapping[str, Any]], BatchEngine]]:
    """Engines on the test's store whose rows a ``ScriptedRunner`` plays (all succeed)."""
    made: list[BatchEngine] = []

    def make(options: Mapping[str, Any]) -> BatchEngine:
        runner = ScriptedRunner()
        settings = make_settings(retry_delay=0, **options)
        engine = BatchEngine(RunContext(settings=settings), runner_factory=runner.bind)
        engine.sleep = no_sleep
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.close()


def on_folder(store: ManifestStore, source: str | Path, make_settings: Any) -> None:
    add_schedule(
        store, "exports", "0 2 * * *", "UTC", source, "add_customer.yaml", {},
        make_settings(), T0,
    )  # fmt: skip


async def test_a_directory_fires_one_group_per_slot_run_in_process(
    store: ManifestStore,
    folder: Path,
    make_settings: Any,
    scripted_factory: Callable[[Mapping[str, Any]], BatchEngine],
) -> None:
    on_folder(store, folder, make_settings)
    scheduler = Scheduler(store, run_in_process, scripted_factory)
    (fired,) = await scheduler.tick(at(2, 2))
    assert (fired.outcome, fired.reason) == ("fired", "")
    assert fired.batch_id is not None
    assert fired.batch_id.startswith("group-")
    group = store.get_group(fired.batch_id)
    assert len(group.batch_ids) == 3
    assert [Path(r.path).name for r in group.refused] == ["bad.csv"]
    for batch_id in group.batch_ids:
        manifest = store.get_manifest(batch_id)
        assert manifest.status is BatchStatus.FINISHED
        assert manifest.settings["schedule"] == {"name": "exports", "slot": at(2, 2).isoformat()}
    index = make_settings().artifacts_dir / "groups" / fired.batch_id / "index.html"
    assert "bad.csv" in index.read_text(encoding="utf-8")
    (view,) = list_schedules(store, at(2, 3))
    assert (view.last_outcome, view.last_batch_id) == ("fired", fired.batch_id)
    assert view.last_batch == {
        "group": True,
        "batches": 3,
        "refused": 1,
        "pruned_batches": 0,
        "status": "finished",
        "total": 6,
        "counts": {"completed": 6},
    }
    (again,) = await scheduler.tick(at(3, 2))
    assert again.batch_id not in (None, fired.batch_id), "a new group for the next slot"
    assert len(store.list_batches()) == 6


async def test_a_glob_pattern_fires_a_group_of_its_matches(
    store: ManifestStore, folder: Path, make_settings: Any, recorder: Recorder,
    scripted_factory: Callable[[Mapping[str, Any]], BatchEngine],
) -> None:  # fmt: skip
    on_folder(store, "exports/[ab].csv", make_settings)
    (fired,) = await Scheduler(store, recorder, scripted_factory).tick(at(2, 2))
    (launch,) = recorder.launches
    assert launch.group_id == fired.batch_id
    assert len(launch.batch_ids) == 2
    assert store.get_group(launch.group_id).batch_ids == list(launch.batch_ids)


async def test_a_slot_is_skipped_while_a_batch_of_the_previous_group_runs(
    store: ManifestStore, folder: Path, make_settings: Any, recorder: Recorder,
    scripted_factory: Callable[[Mapping[str, Any]], BatchEngine],
) -> None:  # fmt: skip
    on_folder(store, folder, make_settings)
    scheduler = Scheduler(store, recorder, scripted_factory)
    (first,) = await scheduler.tick(at(2, 2))
    assert first.batch_id is not None
    last = store.get_group(first.batch_id).batch_ids[-1]
    with taking(store, last) as owner:  # an engine runs the group's last batch
        (skipped,) = await scheduler.tick(at(3, 2))
    assert skipped.outcome == "skipped"
    assert skipped.reason == (
        f"previous batch {last} of group {first.batch_id} still runs (engine {owner} runs it)"
    )
    assert len(store.list_batches()) == 3
    (fired,) = await scheduler.tick(at(4, 2))
    assert fired.outcome == "fired"


async def test_a_directory_whose_files_are_all_refused_fails_the_slot_saying_why(
    store: ManifestStore, folder: Path, make_settings: Any, recorder: Recorder,
    scripted_factory: Callable[[Mapping[str, Any]], BatchEngine],
) -> None:  # fmt: skip
    on_folder(store, folder, make_settings)
    for name in ("a.csv", "b.csv", "c.csv"):
        (folder / name).unlink()
    (failed,) = await Scheduler(store, recorder, scripted_factory).tick(at(2, 2))
    assert failed.outcome == "failed"
    assert failed.reason.startswith("no batch made (")
    assert "bad.csv" in failed.reason
    assert recorder.launches == []
    (view,) = list_schedules(store, at(2, 3))
    assert view.last_batch_id == failed.batch_id
