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
    assert retention.activity("old") is None
    assert retention.delete("old", "pruner") is None
    assert [m.batch_id for m in store.list_batches()] == ["other"]
    assert raw_count(store_url, "SELECT COUNT(*) FROM jobs") == 3
    assert raw_count(store_url, "SELECT COUNT(*) FROM attempts") == 3
    assert retention.delete("old", "pruner") == "it is gone or taken"


def test_a_running_batch_is_kept(store: ManifestStore) -> None:
    finished_batch(store, "held")
    assert store.acquire_batch("held", "host:1:engine", lease_s=60)
    retention = RetentionStore(store)
    assert retention.activity("held") == "engine host:1:engine runs it"
    assert retention.delete("held", "pruner") == "engine host:1:engine runs it"
    assert store.get_manifest("held").total == 3
    # once its lease ran out (the engine died on another host), it may go
    store.release_owner("host:1:engine")
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    assert store.acquire_batch("held", "host:1:engine", lease_s=60, now=long_ago)
    assert retention.activity("held") is None
    assert retention.delete("held", "pruner") is None


def test_a_batch_with_a_row_running_is_kept(store: ManifestStore) -> None:
    store.create_batch(manifest("rows"), jobs("rows", 2))
    store.claim_job(store.job_ids("rows")[0], "worker-1", lease_s=60)
    assert RetentionStore(store).delete("rows", "pruner") == "1 row(s) running"


def test_rows_needing_review_keep_their_batch_unless_asked(store: ManifestStore) -> None:
    store.create_batch(manifest("review"), jobs("review", 2))
    job_id = store.job_ids("review")[0]
    token = store.claim_job(job_id, "engine", 30)
    assert token is not None
    store.mark_reached_commit(job_id, token)
    store.release_owner("engine")  # interrupted past its commit step
    assert store.count_by_status("review")[JobStatus.NEEDS_REVIEW] == 1
    retention = RetentionStore(store)
    kept = retention.delete("review", "pruner")
    assert kept == "1 row(s) need review (--include-review prunes them)"
    assert store.get_manifest("review").total == 2
    assert retention.delete("review", "pruner", include_review=True) is None
    assert store.list_batches() == []
