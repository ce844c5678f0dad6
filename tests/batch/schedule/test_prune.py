"""``prune`` and ``apply_retention`` on a real store and real folders: what goes,
what stays (running batches, rows needing review, the kinds not asked for), the
space freed, a dry run, and the folders an interrupted prune leaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from batch.engine import BatchEngine
from batch.exceptions import ConfigurationError
from batch.models import JobStatus
from batch.run.ownership import taking
from batch.schedule import DailyRetention, PruneOptions, apply_retention, prune
from batch.schedule.retention import PruneStatus, folder_size, parse_age
from batch.store import ManifestStore
from runtime.outcome import ErrorCategory
from runtime.run_context import RunContext
from runtime.runners.fake import ScriptedRunner, fail

from .conftest import no_sleep

MONTH = timedelta(days=30)


def later() -> datetime:
    return datetime.now(UTC) + timedelta(days=31)


@pytest.fixture
def make_batch(make_settings: Any, csv_file: Path) -> Any:
    """A batch run by a scripted runner (its reports written); row 0 fails if asked."""
    engines: list[BatchEngine] = []

    async def make(*, failing: bool = False) -> str:
        runner = ScriptedRunner({0: [fail(ErrorCategory.BUSINESS)]} if failing else None)
        engine = BatchEngine(
            RunContext(settings=make_settings()), sleep=no_sleep, runner_factory=runner.bind
        )
        engines.append(engine)
        manifest = engine.create_batch_jobs(csv_file, csv_file.with_name("add_customer.yaml"))
        await engine.execute_batch_jobs(manifest.batch_id)
        (engine.batch_dir(manifest.batch_id) / "evidence.png").write_bytes(b"x" * 50_000)
        return manifest.batch_id

    yield make
    for engine in engines:
        engine.close()


def needing_review(store: ManifestStore, batch_id: str) -> None:
    """Put the batch's first row in needs_review, as a crash past its commit step does."""
    job_id = store.job_ids(batch_id)[0]
    store.requeue(batch_id, [JobStatus.FAILED], job_ids=[job_id])
    token = store.claim_job(job_id, "dead-engine", 30)
    assert token is not None
    store.mark_reached_commit(job_id, token)
    store.release_owner("dead-engine")


async def test_a_dry_run_names_what_would_go_and_removes_nothing(
    store: ManifestStore, make_batch: Any, make_settings: Any
) -> None:
    good, bad = await make_batch(), await make_batch(failing=True)
    artifacts = make_settings().artifacts_dir
    sizes = {b: folder_size(artifacts / b) for b in (good, bad)}
    assert all(size > 50_000 for size in sizes.values())
    result = prune(store, artifacts, PruneOptions(MONTH, dry_run=True), later())
    assert [(b.batch_id, b.kind, b.bytes) for b in result.removed] == [
        (good, "finished", sizes[good]),
        (bad, "failed", sizes[bad]),
    ]
    assert result.bytes_freed == sum(sizes.values())
    assert {m.batch_id for m in store.list_batches()} == {good, bad}
    assert (artifacts / good).is_dir()
    assert (artifacts / bad).is_dir()
    assert prune(store, artifacts, PruneOptions(MONTH), datetime.now(UTC)).removed == [], (
        "nothing is 30 days old yet"
    )


async def test_a_prune_removes_rows_and_folders_and_reports_the_space_freed(
    store: ManifestStore, make_batch: Any, make_settings: Any
) -> None:
    good, bad = await make_batch(), await make_batch(failing=True)
    artifacts = make_settings().artifacts_dir
    expected = folder_size(artifacts / good) + folder_size(artifacts / bad)
    result = prune(store, artifacts, PruneOptions(MONTH), later())
    assert {b.batch_id for b in result.removed} == {good, bad}
    assert result.bytes_freed == expected
    assert store.list_batches() == []
    assert not (artifacts / good).exists()
    assert not (artifacts / bad).exists()
    assert [p.name for p in artifacts.iterdir()] == ["batchwright.db"] or all(
        p.name.startswith("batchwright.db") for p in artifacts.iterdir()
    )


@pytest.mark.parametrize(
    ("options", "gone"),
    [
        (PruneOptions(MONTH, status=PruneStatus.FINISHED), {"good"}),
        (PruneOptions(MONTH, status=PruneStatus.FAILED), {"bad"}),
        (PruneOptions(MONTH, keep_failed=True), {"good"}),
        (PruneOptions(MONTH), {"good", "bad"}),
    ],
)
async def test_status_and_keep_failed_choose_the_batches(
    store: ManifestStore,
    make_batch: Any,
    make_settings: Any,
    options: PruneOptions,
    gone: set[str],
) -> None:
    ids = {"good": await make_batch(), "bad": await make_batch(failing=True)}
    result = prune(store, make_settings().artifacts_dir, options, later())
    assert {b.batch_id for b in result.removed} == {ids[name] for name in gone}
    assert {m.batch_id for m in store.list_batches()} == {ids[n] for n in ids if n not in gone}


async def test_a_running_batch_and_one_needing_review_are_kept(
    store: ManifestStore, make_batch: Any, make_settings: Any
) -> None:
    running, review = await make_batch(), await make_batch(failing=True)
    needing_review(store, review)
    artifacts = make_settings().artifacts_dir
    with taking(store, running) as owner:  # an engine holds it now
        result = prune(store, artifacts, PruneOptions(MONTH), datetime.now(UTC) + MONTH * 2)
        assert result.kept == {
            running: f"engine {owner} runs it",
            review: "1 row(s) need review (--include-review prunes them)",
        }
        dry = prune(store, artifacts, PruneOptions(MONTH, dry_run=True), later())
        assert dry.kept == result.kept, "a dry run keeps what a prune would"
    assert result.removed == []
    assert (artifacts / running).is_dir()
    assert (artifacts / review).is_dir()
    assert store.get_manifest(review).counts[JobStatus.NEEDS_REVIEW] == 1
    options = PruneOptions(MONTH, include_review=True)
    assert {b.batch_id for b in prune(store, artifacts, options, later()).removed} == {
        running,
        review,
    }


async def test_folders_an_interrupted_prune_left_are_removed_and_nothing_else(
    store: ManifestStore, make_batch: Any, make_settings: Any
) -> None:
    kept = await make_batch()
    artifacts = make_settings().artifacts_dir
    (artifacts / ".pruning-20260101-000000-abcdef" / "traces").mkdir(parents=True)
    (artifacts / ".pruning-20260101-000000-abcdef" / "traces" / "t.zip").write_bytes(b"z" * 10)
    orphan = artifacts / "20260102-030405-abcdef"  # its rows went, its folder did not
    orphan.mkdir()
    (orphan / "report.html").write_text("old", encoding="utf-8")
    fresh = artifacts / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-0a0b0c"  # a batch being made
    fresh.mkdir()
    (artifacts / "my-notes").mkdir()
    result = prune(store, artifacts, PruneOptions(MONTH), datetime.now(UTC))
    assert result.removed == []
    assert sorted(result.leftover_folders) == [
        ".pruning-20260101-000000-abcdef",
        "20260102-030405-abcdef",
    ]
    assert result.bytes_freed == 13
    assert sorted(p.name for p in artifacts.iterdir() if p.is_dir()) == sorted(
        [kept, fresh.name, "my-notes"]
    )


async def test_retention_days_prunes_once_a_day_and_is_off_by_default(
    store: ManifestStore, make_batch: Any, make_settings: Any
) -> None:
    batch_id = await make_batch()
    assert apply_retention(store, make_settings(), later()) is None
    settings = make_settings(retention_days=30)
    daily = DailyRetention(settings)
    start = datetime.now(UTC)
    assert daily.maybe_apply(store, start)
    assert len(store.list_batches()) == 1, "not 30 days old yet"
    assert not daily.maybe_apply(store, start + timedelta(hours=23)), "a day has not passed"
    assert daily.maybe_apply(store, start + timedelta(days=31))
    assert store.list_batches() == []
    assert not (settings.artifacts_dir / batch_id).exists()


@pytest.mark.parametrize("text", ["30", "d", "0d", "-3d", "3y", "3 days"])
def test_a_bad_age_is_refused_naming_the_option(text: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^--older-than"):
        parse_age(text)


def test_ages_read_as_expected() -> None:
    assert parse_age("30d") == timedelta(days=30)
    assert parse_age("2w") == timedelta(weeks=2)
    assert parse_age("12h") == timedelta(hours=12)
    assert parse_age("90m") == timedelta(minutes=90)
    assert parse_age("5s") == timedelta(seconds=5)
