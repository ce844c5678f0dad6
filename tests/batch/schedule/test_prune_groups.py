"""``prune`` and groups, on a real store and real folders: a group whose batches all
go goes too (its row and its ``groups/<id>`` folder, the bytes counted, in a dry run
as well), a group keeping some batches stays readable and names those pruned."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from batch.engine import BatchEngine
from batch.groups import write_group_reports
from batch.schedule import PruneOptions, apply_retention, prune
from batch.schedule.retention import folder_size
from batch.store import ManifestStore
from runtime.outcome import ErrorCategory
from runtime.run_context import RunContext
from runtime.runners.fake import ScriptedRunner, fail

from .conftest import no_sleep
from .test_prune import needing_review

MONTH = timedelta(days=30)


def later() -> datetime:
    return datetime.now(UTC) + timedelta(days=31)


@pytest.fixture
def engine(make_settings: Any) -> Iterator[BatchEngine]:
    runner = ScriptedRunner({0: [fail(ErrorCategory.BUSINESS)]})  # row 0 of each batch
    settings = make_settings()
    with BatchEngine(
        RunContext(settings=settings), sleep=no_sleep, runner_factory=runner.bind
    ) as made:
        yield made


@pytest.fixture
async def group_id(engine: BatchEngine, csv_file: Path) -> str:
    """A group of two batches (two rows each, the first failed), run, its reports
    written."""
    folder = csv_file.parent / "exports"
    folder.mkdir()
    for name in ("a.csv", "b.csv"):
        shutil.copy(csv_file, folder / name)
    group = engine.create_batch_group(folder, csv_file.with_name("add_customer.yaml"))
    await engine.execute_group(group.group_id)
    return group.group_id


def group_folder(engine: BatchEngine, group_id: str) -> Path:
    return engine.settings.artifacts_dir / "groups" / group_id


async def test_a_group_whose_batches_all_go_goes_too_and_a_dry_run_removes_nothing(
    store: ManifestStore, engine: BatchEngine, group_id: str
) -> None:
    artifacts = engine.settings.artifacts_dir
    batch_ids = store.get_group(group_id).batch_ids
    index_size = folder_size(group_folder(engine, group_id))
    assert index_size > 0
    batches_size = sum(folder_size(artifacts / b) for b in batch_ids)

    dry = prune(store, artifacts, PruneOptions(MONTH, dry_run=True), later())
    assert [b.batch_id for b in dry.removed] == batch_ids
    assert [(g.group_id, g.bytes) for g in dry.removed_groups] == [(group_id, index_size)]
    assert dry.bytes_freed == batches_size + index_size
    assert store.get_group(group_id).batch_ids == batch_ids, "a dry run removes nothing"
    assert (group_folder(engine, group_id) / "index.html").is_file()

    done = prune(store, artifacts, PruneOptions(MONTH), later())
    assert [g.group_id for g in done.removed_groups] == [group_id]
    assert done.bytes_freed == dry.bytes_freed
    assert store.find_group(group_id) is None
    assert not group_folder(engine, group_id).exists()
    assert list((artifacts / "groups").iterdir()) == []
    again = prune(store, artifacts, PruneOptions(MONTH), later())
    assert (again.removed, again.removed_groups, again.leftover_folders) == ([], [], [])


async def test_a_group_keeping_a_batch_stays_and_names_the_batch_pruned(
    store: ManifestStore, engine: BatchEngine, group_id: str
) -> None:
    artifacts = engine.settings.artifacts_dir
    first, second = store.get_group(group_id).batch_ids
    needing_review(store, second)  # kept: a row needs review
    refreshed: list[str] = []

    def refresh(gid: str) -> None:
        refreshed.append(gid)
        write_group_reports(engine, gid)

    dry = prune(store, artifacts, PruneOptions(MONTH, dry_run=True), later())
    assert (dry.removed_groups, dry.partial_groups) == ([], [group_id])
    result = prune(store, artifacts, PruneOptions(MONTH), later(), refresh_group=refresh)
    assert [b.batch_id for b in result.removed] == [first]
    assert second in result.kept
    assert (result.removed_groups, result.partial_groups) == ([], [group_id])
    assert refreshed == [group_id]
    group = store.get_group(group_id)
    assert (group.batch_ids, group.pruned) == ([second], [first])
    summary = engine.get_group_summary(group_id)
    assert [b.batch_id for b in summary.batches] == [second]
    assert summary.to_dict()["pruned"] == [first]
    index = (group_folder(engine, group_id) / "index.html").read_text(encoding="utf-8")
    assert f'<ul id="pruned"><li><code>{first}</code></li></ul>' in index
    assert f"{first}/report.html" not in index, "no link to a report pruned"

    options = PruneOptions(MONTH, include_review=True)
    last = prune(store, artifacts, options, later(), refresh_group=refresh)
    assert [b.batch_id for b in last.removed] == [second]
    assert [g.group_id for g in last.removed_groups] == [group_id]
    assert store.find_group(group_id) is None
    assert not group_folder(engine, group_id).exists()
    assert refreshed == [group_id], "a group that went is not refreshed"


async def test_a_group_folder_whose_group_is_gone_is_a_leftover(
    store: ManifestStore, engine: BatchEngine, group_id: str
) -> None:
    """As a prune killed after a group's row and before its folder leaves it."""
    artifacts = engine.settings.artifacts_dir
    folder = group_folder(engine, group_id)
    moved = folder.with_name("group-20200101-000000-abcdef")
    folder.rename(moved)
    kept = folder.with_name("group-20991231-000000-abcdef")  # not older than the cutoff
    kept.mkdir()
    result = prune(store, artifacts, PruneOptions(MONTH, dry_run=True), later())
    assert result.leftover_folders == [f"groups/{moved.name}"]
    assert moved.is_dir()
    prune(store, artifacts, PruneOptions(MONTH), later())
    assert not moved.exists()
    assert kept.is_dir()


async def test_retention_rewrites_the_index_of_a_group_keeping_a_batch(
    store: ManifestStore, engine: BatchEngine, group_id: str, make_settings: Any
) -> None:
    first, second = store.get_group(group_id).batch_ids
    needing_review(store, second)
    result = apply_retention(store, make_settings(retention_days=30), later())
    assert result is not None
    assert result.partial_groups == [group_id]
    index = (group_folder(engine, group_id) / "index.html").read_text(encoding="utf-8")
    assert f'<ul id="pruned"><li><code>{first}</code></li></ul>' in index
