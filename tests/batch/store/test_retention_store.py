"""Deleting a batch's rows on both backends: all at once, never a running batch,
rows needing review only when asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from batch.models import JobStatus
from batch.store import ManifestStore, StoreUrl
from batch.store._retention import RetentionStore

from .test_store import attempt, jobs, manifest, raw_count

LATER = datetime(2026, 6, 1, tzinfo=UTC)


def finished_batch(store: ManifestStore, batch_id: str) -> None:
    store.create_batch(manifest(batch_id), jobs(batch_id, 3))
    for job_id in store.job_ids(batch_id):
        token = store.claim_job(job_id, "engine", 30)
        assert token is not None
        store.finish_job(job_id, token, attempt(1, ok=True), JobStatus.COMPLETED)
    store.release_owner("engine")


def test_a_batch_goes_with_its_jobs_and_attempts_and_nothing_else(
    store: ManifestStore, store_url: StoreUrl
) -> None:
    finished_batch(store, "old")
    finished_batch(store, "other")
    retention = RetentionStore(store)
    assert retention.created_before(LATER) == ["old", "other"]
    assert retention.activity("old", LATER) is None
    assert retention.delete("old", "pruner", LATER) is None
    assert [m.batch_id for m in store.list_batches()] == ["other"]
    for table in ("jobs", "attempts"):
        assert raw_count(store_url, f"SELECT COUNT(*) FROM {table}") == 3, table
    assert retention.delete("old", "pruner", LATER) == "it is gone or taken"


def test_a_running_batch_is_kept(store: ManifestStore) -> None:
    finished_batch(store, "held")
    now = datetime.now(UTC)
    assert store.acquire_batch("held", "host:1:engine", lease_s=60, now=now)
    retention = RetentionStore(store)
    assert retention.delete("held", "pruner", now) == "engine host:1:engine runs it"
    assert store.get_manifest("held").total == 3
    # once its lease ran out (the engine died on another host), it may go
    assert retention.delete("held", "pruner", now + timedelta(minutes=5)) is None


def test_a_batch_with_a_row_running_is_kept(store: ManifestStore) -> None:
    store.create_batch(manifest("rows"), jobs("rows", 2))
    store.claim_job(store.job_ids("rows")[0], "worker-1", lease_s=60)
    now = datetime.now(UTC)
    assert RetentionStore(store).delete("rows", "pruner", now) == "1 row(s) running"


def test_rows_needing_review_keep_their_batch_unless_asked(store: ManifestStore) -> None:
    store.create_batch(manifest("review"), jobs("review", 2))
    job_id = store.job_ids("review")[0]
    token = store.claim_job(job_id, "engine", 30)
    assert token is not None
    store.mark_reached_commit(job_id, token)
    store.release_owner("engine")  # interrupted past its commit step
    assert store.count_by_status("review")[JobStatus.NEEDS_REVIEW] == 1
    retention = RetentionStore(store)
    kept = retention.delete("review", "pruner", LATER)
    assert kept == "1 row(s) need review (--include-review prunes them)"
    assert store.get_manifest("review").total == 2
    assert retention.delete("review", "pruner", LATER, include_review=True) is None
    assert store.list_batches() == []
