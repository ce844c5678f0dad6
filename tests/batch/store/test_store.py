"""The manifest store against real SQLite files and a real PostgreSQL server: atomic
moves, leases, tokens, processes. Every test taking ``store`` runs on both backends."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy

from batch.exceptions import (
    BatchNotFoundError,
    FileProcessingError,
    InvalidTransitionError,
    StoreError,
)
from batch.models import (
    ALLOWED_TRANSITIONS,
    AttemptRecord,
    BatchManifest,
    BatchStatus,
    CsvDialect,
    JobStatus,
    NewJob,
)
from batch.settings import BatchSettings
from batch.store import BatchKeys, ManifestStore, StoreUrl, default_store_path
from batch.store._schema import SCHEMA_VERSION
from runtime.outcome import ErrorCategory

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def manifest(batch_id: str = "b1", flow_name: str = "signup", **extra: object) -> BatchManifest:
    values: dict[str, object] = {
        "batch_id": batch_id,
        "run_id": "run-1",
        "csv_path": "/data/clients.csv",
        "csv_sha256": "ab" * 32,
        "encoding": "utf-8",
        "dialect": CsvDialect(delimiter=";"),
        "headers": ["name", "city"],
        "flow_ref": "flows/signup.yaml",
        "flow_name": flow_name,
        "created_at": NOW,
        "settings": {"base_url": "http://127.0.0.1:8000", "max_retries": 2},
    }
    return BatchManifest.model_validate(values | extra)


def job(
    batch_id: str, index: int, status: JobStatus = JobStatus.PENDING, error_message: str = ""
) -> NewJob:
    row = {"name": f"Zoë {index}", "city": "Lyon"}
    job_id = f"{batch_id}-{index:06d}"
    return NewJob(job_id, batch_id, index, index + 2, row, f"key-{index}", status, error_message)


def jobs(batch_id: str, count: int) -> Iterator[NewJob]:
    return (job(batch_id, i) for i in range(count))


def attempt(number: int, ok: bool = False, **extra: object) -> AttemptRecord:
    values: dict[str, object] = {
        "number": number,
        "started_at": NOW,
        "duration_s": 0.5,
        "ok": ok,
        "category": None if ok else ErrorCategory.TRANSIENT,
        "message": "" if ok else "timeout",
    }
    return AttemptRecord.model_validate(values | extra)


@pytest.fixture
def batch(store: ManifestStore) -> str:
    store.create_batch(manifest("b1"), jobs("b1", 5))
    return "b1"


def raw_count(url: StoreUrl, sql: str) -> int:
    """A count read past the store, with a connection of its own."""
    engine = sqlalchemy.create_engine(url.connect_url())
    try:
        with engine.connect() as conn:
            return int(conn.execute(sqlalchemy.text(sql)).scalar_one())
    finally:
        engine.dispose()


# --- opening -------------------------------------------------------------------------


def test_opens_a_wal_database_with_a_versioned_schema(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "store.db"
    with ManifestStore(path):
        assert path.is_file()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    finally:
        conn.close()


def test_for_settings_uses_the_artifacts_dir(settings: BatchSettings) -> None:
    with ManifestStore.for_settings(settings) as opened:
        assert opened.path == settings.artifacts_dir / "batchwright.db"
        assert opened.path == default_store_path(settings.artifacts_dir)
        assert opened.path.is_file()


def test_refuses_a_schema_from_a_newer_version(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    ManifestStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match=rf"schema version 99.*reads version {SCHEMA_VERSION}\b"):
        ManifestStore(path)


def test_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(b"name,city\n" * 200)
    with pytest.raises(StoreError, match=r"cannot open the manifest store .*store\.db"):
        ManifestStore(path)


# --- batches ---------------------------------------------------------------------------


def test_create_get_and_list_round_trip(store: ManifestStore) -> None:
    assert store.create_batch(manifest("b1"), jobs("b1", 3)) == 3
    later = manifest("b2", created_at=NOW + timedelta(minutes=1), headers=["名前"])
    store.create_batch(later, jobs("b2", 2))

    got = store.get_manifest("b1")
    assert got.model_dump(exclude={"counts", "total"}) == manifest("b1").model_dump(
        exclude={"counts", "total"}
    )
    assert got.dialect.delimiter == ";"
    assert got.settings == {"base_url": "http://127.0.0.1:8000", "max_retries": 2}
    assert [m.batch_id for m in store.list_batches()] == ["b2", "b1"]
    assert [m.batch_id for m in store.list_batches(limit=1)] == ["b2"]
    assert store.list_batches()[0].headers == ["名前"]
    assert [m.total for m in store.list_batches()] == [2, 3]


def test_a_missing_batch_names_its_id_and_how_to_list(store: ManifestStore) -> None:
    with pytest.raises(BatchNotFoundError, match=r"'nope'.*batchwright list"):
        store.get_manifest("nope")
    with pytest.raises(BatchNotFoundError, match="nope"):
        store.cancel_requested("nope")
    with pytest.raises(BatchNotFoundError, match="nope"):
        list(store.iter_jobs("nope"))


def test_a_batch_id_is_created_once(store: ManifestStore, batch: str) -> None:
    with pytest.raises(StoreError, match="already exists"):
        store.create_batch(manifest(batch), jobs("other", 1))
    assert store.get_manifest(batch).total == 5


def test_counts_and_total_are_derived_from_the_jobs(store: ManifestStore, batch: str) -> None:
    assert store.get_manifest(batch).counts == {JobStatus.PENDING: 5}
    token = store.claim_job("b1-000000", "w", 60)
    assert token is not None
    store.finish_job("b1-000000", token, attempt(1, ok=True), JobStatus.COMPLETED)
    store.transition("b1-000001", JobStatus.SKIPPED, error_message="blank name")
    got = store.get_manifest(batch)
    assert got.total == 5
    assert got.counts == {JobStatus.PENDING: 3, JobStatus.COMPLETED: 1, JobStatus.SKIPPED: 1}
    assert got.success_rate == 0.25
    assert store.count_by_status(batch) == got.counts


def test_has_jobs_in_answers_whether_any_job_has_one_of_the_statuses(
    store: ManifestStore, batch: str
) -> None:
    unsettled = [JobStatus.PENDING, JobStatus.RUNNING]
    assert store.has_jobs_in(batch, unsettled)
    assert not store.has_jobs_in(batch, [JobStatus.COMPLETED])
    for job_id in store.job_ids(batch):
        token = store.claim_job(job_id, "w", 60)
        assert token is not None
        assert store.has_jobs_in(batch, [JobStatus.RUNNING])
        store.finish_job(job_id, token, attempt(1, ok=True), JobStatus.COMPLETED)
    assert not store.has_jobs_in(batch, unsettled)
    assert store.has_jobs_in(batch, [JobStatus.COMPLETED, JobStatus.FAILED])


def test_bad_rows_can_be_inserted_as_skipped_jobs(store: ManifestStore) -> None:
    rows = [job("b1", 0), job("b1", 1, status=JobStatus.SKIPPED, error_message="3 fields, 2")]
    store.create_batch(manifest("b1"), rows)
    assert store.get_job("b1-000001").error_message == "3 fields, 2"
    assert store.count_by_status("b1") == {JobStatus.PENDING: 1, JobStatus.SKIPPED: 1}


def test_create_batch_leaves_nothing_when_the_rows_fail_midway(store: ManifestStore) -> None:
    def rows() -> Iterator[NewJob]:
        yield from jobs("b1", 2500)
        raise FileProcessingError("3 fields, expected 2", path="clients.csv", line=2502)

    with pytest.raises(FileProcessingError, match="line 2502"):
        store.create_batch(manifest("b1"), rows(), chunk_size=1000)
    with pytest.raises(BatchNotFoundError):
        store.get_manifest("b1")
    assert store.list_batches() == []
    assert raw_count(store.url, "SELECT COUNT(*) FROM jobs") == 0
    store.create_batch(manifest("b1"), jobs("b1", 1))  # the id is free again
    assert store.get_manifest("b1").total == 1


def test_streams_100k_jobs_in_and_out_in_row_order(store: ManifestStore) -> None:
    produced = 0

    def rows() -> Iterator[NewJob]:
        nonlocal produced
        for i in range(100_000):
            produced += 1
            yield job("big", i)

    assert store.create_batch(manifest("big"), rows(), chunk_size=5000) == 100_000
    assert produced == 100_000
    assert store.count_by_status("big") == {JobStatus.PENDING: 100_000}
    expected = 0
    for found in store.iter_jobs("big", chunk_size=4096):
        assert found.row_index == expected
        expected += 1
    assert expected == 100_000


def test_iter_jobs_filters_and_loads_attempts_across_chunks(
    store: ManifestStore, batch: str
) -> None:
    for job_id in ("b1-000001", "b1-000003"):
        token = store.claim_job(job_id, "w", 60)
        assert token is not None
        store.record_attempt(job_id, attempt(1), token)
        store.finish_job(
            job_id, token, attempt(2), JobStatus.FAILED, ErrorCategory.BUSINESS, "rejected"
        )
    failed = list(store.iter_jobs(batch, [JobStatus.FAILED], chunk_size=1))
    assert [j.job_id for j in failed] == ["b1-000001", "b1-000003"]
    assert all([a.number for a in j.attempts] == [1, 2] for j in failed)
    assert [j.row_index for j in store.iter_jobs(batch, chunk_size=2)] == [0, 1, 2, 3, 4]
    # a keyset cursor: rows past index 1 (the dashboard's pages start there)
    assert [j.row_index for j in store.iter_jobs(batch, chunk_size=2, after=1)] == [2, 3, 4]
    pending = store.iter_jobs(batch, [JobStatus.PENDING], after=2)
    assert [j.row_index for j in pending] == [4]
    assert store.job_ids(batch, [JobStatus.PENDING]) == ["b1-000000", "b1-000002", "b1-000004"]
    assert store.job_ids(batch) == [f"b1-{i:06d}" for i in range(5)]


def test_iter_jobs_holds_no_lock_between_chunks(store: ManifestStore, batch: str) -> None:
    claimed: list[str | None] = []
    for found in store.iter_jobs(batch, [JobStatus.PENDING], chunk_size=2):
        other = threading.Thread(
            target=lambda j=found.job_id: claimed.append(store.claim_job(j, "w", 60))
        )
        other.start()
        other.join(timeout=10)
        assert not other.is_alive()
    assert len(claimed) == 5
    assert all(token is not None for token in claimed)


def test_export_manifest_json_writes_counts_atomically(
    store: ManifestStore, batch: str, tmp_path: Path
) -> None:
    store.cancel_pending(batch)
    target = tmp_path / "out" / "manifest.json"
    assert store.export_manifest_json(batch, target) == target
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["batch_id"] == batch
    assert data["total"] == 5
    assert data["counts"] == {"cancelled": 5}
    assert data["dialect"]["delimiter"] == ";"
    assert sorted(p.name for p in target.parent.iterdir()) == ["manifest.json"]


def test_find_completed_keys_matches_the_flow(store: ManifestStore) -> None:
    store.create_batch(manifest("old", flow_name="signup"), jobs("old", 3))
    store.create_batch(manifest("other", flow_name="billing"), jobs("other", 3))
    for job_id in ("old-000000", "other-000001"):
        token = store.claim_job(job_id, "w", 60)
        assert token is not None
        store.finish_job(job_id, token, attempt(1, ok=True), JobStatus.COMPLETED)
    found = store.find_completed_keys("signup", ["key-0", "key-1", "key-9"])
    assert found == {"key-0": "old"}
    assert store.find_completed_keys("billing", ["key-0", "key-1"]) == {"key-1": "other"}


# --- the state machine -------------------------------------------------------------------


def put_in(store: ManifestStore, job_id: str, status: JobStatus) -> str | None:
    """Drive a pending job to ``status`` through the public API; returns its token if running."""
    if status is JobStatus.PENDING:
        return None
    if status in (JobStatus.SKIPPED, JobStatus.CANCELLED):
        store.transition(job_id, status)
        return None
    token = store.claim_job(job_id, "w", 60)
    assert token is not None
    if status is JobStatus.NEEDS_REVIEW:
        store.mark_reached_commit(job_id, token)
        assert store.requeue_stale("b1", now=datetime.now(UTC) + timedelta(hours=1)) == (0, 1)
    elif status is not JobStatus.RUNNING:
        store.transition(job_id, status)
    return token if status is JobStatus.RUNNING else None


PAIRS = [(source, target) for source in JobStatus for target in JobStatus]


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{s}->{t}" for s, t in PAIRS])
def test_every_transition_follows_the_state_machine(
    store: ManifestStore, batch: str, source: JobStatus, target: JobStatus
) -> None:
    put_in(store, "b1-000000", source)
    assert store.get_job("b1-000000").status is source
    if target in ALLOWED_TRANSITIONS[source] and target is not JobStatus.RUNNING:
        store.transition("b1-000000", target)
        assert store.get_job("b1-000000").status is target
        return
    with pytest.raises(InvalidTransitionError, match="b1-000000") as refused:
        store.transition("b1-000000", target)
    if target is JobStatus.RUNNING:
        assert "claim_job" in str(refused.value)
    else:
        assert f"from {source} to {target}" in str(refused.value)
    assert store.get_job("b1-000000").status is source


def test_final_and_pending_moves_set_their_fields(store: ManifestStore, batch: str) -> None:
    token = store.claim_job("b1-000000", "w", 60)
    assert token is not None
    running = store.get_job("b1-000000")
    assert running.started_at is not None
    assert running.finished_at is None
    store.transition(
        "b1-000000",
        JobStatus.FAILED,
        token=token,
        error_category=ErrorCategory.BUSINESS,
        error_message="city unknown",
        extracted={"ref": "Ω-1"},
    )
    failed = store.get_job("b1-000000")
    assert (failed.error_category, failed.error_message) == (ErrorCategory.BUSINESS, "city unknown")
    assert failed.finished_at is not None
    assert failed.extracted == {"ref": "Ω-1"}
    store.transition("b1-000000", JobStatus.PENDING)
    again = store.get_job("b1-000000")
    assert (again.error_category, again.error_message, again.finished_at) == (None, "", None)


def test_expected_status_is_checked(store: ManifestStore, batch: str) -> None:
    with pytest.raises(InvalidTransitionError, match="it is pending, expected failed"):
        store.transition("b1-000000", JobStatus.CANCELLED, expected=[JobStatus.FAILED])
    store.transition("b1-000000", JobStatus.CANCELLED, expected=[JobStatus.PENDING])
    assert store.get_job("b1-000000").status is JobStatus.CANCELLED


def test_unknown_job_is_a_clear_error(store: ManifestStore, batch: str) -> None:
    with pytest.raises(StoreError, match="no job 'ghost'"):
        store.transition("ghost", JobStatus.SKIPPED)
    with pytest.raises(StoreError, match="no job 'ghost'"):
        store.get_job("ghost")
    with pytest.raises(StoreError, match="no job 'ghost'"):
        store.record_attempt("ghost", attempt(1))
    assert store.claim_job("ghost", "w", 60) is None


# --- claims, tokens, atomic finish -------------------------------------------------------


def test_claim_is_exclusive(store: ManifestStore, batch: str) -> None:
    first = store.claim_job("b1-000000", "w1", 60)
    assert first is not None
    assert store.claim_job("b1-000000", "w2", 60) is None
    assert store.get_job("b1-000000").status is JobStatus.RUNNING


def test_claims_from_many_threads_win_each_job_once(store: ManifestStore) -> None:
    store.create_batch(manifest("b1"), jobs("b1", 200))
    ids = store.job_ids("b1")
    start = threading.Barrier(4)
    won: list[list[str]] = [[] for _ in range(4)]

    def worker(n: int) -> None:
        start.wait()
        won[n].extend(i for i in ids if store.claim_job(i, f"w{n}", 60) is not None)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [i for mine in won for i in mine]
    assert sorted(claimed) == ids
    assert store.count_by_status("b1") == {JobStatus.RUNNING: 200}


async def test_claims_through_to_thread_win_once(store: ManifestStore, batch: str) -> None:
    tokens = await asyncio.gather(
        *(asyncio.to_thread(store.claim_job, "b1-000002", f"w{n}", 60) for n in range(8))
    )
    assert sum(token is not None for token in tokens) == 1


def test_a_stale_token_is_refused(store: ManifestStore, batch: str) -> None:
    stale = store.claim_job("b1-000000", "w1", 1)
    assert stale is not None
    assert store.requeue_stale(batch, now=datetime.now(UTC) + timedelta(seconds=5)) == (1, 0)
    fresh = store.claim_job("b1-000000", "w2", 60)
    assert fresh is not None
    assert fresh != stale

    with pytest.raises(InvalidTransitionError, match="running to failed: stale attempt token"):
        store.transition("b1-000000", JobStatus.FAILED, token=stale)
    with pytest.raises(InvalidTransitionError, match="stale attempt token"):
        store.finish_job("b1-000000", stale, attempt(1, ok=True), JobStatus.COMPLETED)
    with pytest.raises(InvalidTransitionError, match="stale attempt token"):
        store.record_attempt("b1-000000", attempt(1), stale)
    with pytest.raises(InvalidTransitionError, match="stale attempt token"):
        store.mark_reached_commit("b1-000000", stale)
    assert store.get_job("b1-000000").attempts == []

    store.finish_job("b1-000000", fresh, attempt(1, ok=True), JobStatus.COMPLETED)
    done = store.get_job("b1-000000")
    assert (done.status, done.attempt_count, done.reached_commit) == (JobStatus.COMPLETED, 1, False)
    with pytest.raises(InvalidTransitionError, match="no longer running"):
        store.transition("b1-000000", JobStatus.FAILED, token=fresh)


def test_finish_job_records_both_or_neither(store: ManifestStore, batch: str) -> None:
    token = store.claim_job("b1-000000", "w", 60)
    assert token is not None
    store.record_attempt("b1-000000", attempt(1), token)

    with pytest.raises(InvalidTransitionError, match="claim_job"):  # the move fails
        store.finish_job("b1-000000", token, attempt(2), JobStatus.RUNNING)
    assert [a.number for a in store.get_job("b1-000000").attempts] == [1]

    with pytest.raises(StoreError, match="attempt 1 of job 'b1-000000' is already recorded"):
        store.finish_job("b1-000000", token, attempt(1, ok=True), JobStatus.COMPLETED)
    assert store.get_job("b1-000000").status is JobStatus.RUNNING

    store.finish_job(
        "b1-000000", token, attempt(2, ok=True), JobStatus.COMPLETED, extracted={"id": "42"}
    )
    done = store.get_job("b1-000000")
    assert (done.status, done.flaky, done.extracted) == (JobStatus.COMPLETED, True, {"id": "42"})
    assert done.attempts[0].category is ErrorCategory.TRANSIENT


# --- leases, requeue, cancel -------------------------------------------------------------


def test_requeue_stale_sends_expired_jobs_back_or_to_review(
    store: ManifestStore, batch: str
) -> None:
    safe = store.claim_job("b1-000000", "dead", 1)
    committed = store.claim_job("b1-000001", "dead", 1)
    live = store.claim_job("b1-000002", "alive", 3600)
    assert safe is not None
    assert committed is not None
    assert live is not None
    store.mark_reached_commit("b1-000001", committed)
    assert store.get_job("b1-000001").reached_commit

    assert store.requeue_stale(batch, now=datetime.now(UTC) + timedelta(seconds=30)) == (1, 1)
    assert store.get_job("b1-000000").status is JobStatus.PENDING
    review = store.get_job("b1-000001")
    assert review.status is JobStatus.NEEDS_REVIEW
    assert "point of no return" in review.error_message
    assert store.get_job("b1-000002").status is JobStatus.RUNNING
    assert store.requeue_stale(batch, now=datetime.now(UTC) + timedelta(seconds=30)) == (0, 0)


def test_renewed_leases_do_not_expire(store: ManifestStore, batch: str) -> None:
    assert store.claim_job("b1-000000", "w", 1) is not None
    assert store.renew_lease("w", 3600) == 1
    assert store.renew_lease("nobody", 3600) == 0
    assert store.requeue_stale(batch, now=datetime.now(UTC) + timedelta(seconds=30)) == (0, 0)


def test_release_owner_frees_only_that_owners_jobs(store: ManifestStore, batch: str) -> None:
    gone = store.claim_job("b1-000000", "w1", 3600)
    assert gone is not None
    store.mark_reached_commit("b1-000000", gone)
    assert store.claim_job("b1-000001", "w1", 3600) is not None
    assert store.claim_job("b1-000002", "w2", 3600) is not None
    assert store.release_owner("w1") == (1, 1)
    assert store.count_by_status(batch) == {
        JobStatus.PENDING: 3,
        JobStatus.NEEDS_REVIEW: 1,
        JobStatus.RUNNING: 1,
    }


def test_requeue_filters_by_category_and_job_ids(store: ManifestStore, batch: str) -> None:
    categories = [ErrorCategory.TRANSIENT, ErrorCategory.BUSINESS, ErrorCategory.TRANSIENT]
    for index, category in enumerate(categories):
        token = store.claim_job(f"b1-{index:06d}", "w", 60)
        assert token is not None
        store.transition(f"b1-{index:06d}", JobStatus.FAILED, token=token, error_category=category)

    requeued = store.requeue(
        batch,
        [JobStatus.FAILED],
        job_ids=["b1-000000", "b1-000001"],
        categories=[ErrorCategory.TRANSIENT],
    )
    assert requeued == 1
    assert store.job_ids(batch, [JobStatus.PENDING]) == ["b1-000000", "b1-000003", "b1-000004"]
    assert store.get_job("b1-000000").error_category is None
    assert store.requeue(batch, [JobStatus.FAILED], categories=[ErrorCategory.TRANSIENT]) == 1
    assert store.requeue(batch, [JobStatus.FAILED]) == 1
    assert store.count_by_status(batch) == {JobStatus.PENDING: 5}
    with pytest.raises(InvalidTransitionError, match="cannot requeue completed"):
        store.requeue(batch, [JobStatus.COMPLETED])


def test_cancel_pending_and_the_cancel_flag_across_stores(store: ManifestStore, batch: str) -> None:
    assert store.claim_job("b1-000000", "w", 60) is not None
    with ManifestStore(store.url) as other:  # as another process would
        assert other.cancel_requested(batch) is False
        other.request_cancel(batch)
        assert store.cancel_requested(batch) is True
        store.clear_cancel(batch)
        assert other.cancel_requested(batch) is False
    assert store.cancel_pending(batch) == 4
    assert store.count_by_status(batch) == {JobStatus.RUNNING: 1, JobStatus.CANCELLED: 4}


def test_another_process_sets_the_cancel_flag(store: ManifestStore, batch: str) -> None:
    token = store.claim_job("b1-000000", "w", 60)  # this process is mid-batch
    assert token is not None
    script = (
        "import json, sys; from batch.store import ManifestStore\n"
        "with ManifestStore(sys.argv[1]) as s:\n"
        "    s.request_cancel(sys.argv[2])\n"
        "    print(json.dumps(s.count_by_status(sys.argv[2])))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(store.url), batch],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"running": 1, "pending": 4}
    assert store.cancel_requested(batch) is True
    store.finish_job("b1-000000", token, attempt(1, ok=True), JobStatus.COMPLETED)
    assert store.get_job("b1-000000").status is JobStatus.COMPLETED


def test_batch_status_and_ownership(store: ManifestStore, batch: str) -> None:
    store.set_batch_status(batch, BatchStatus.RUNNING)
    assert store.get_manifest(batch).status is BatchStatus.RUNNING
    assert store.acquire_batch(batch, "engine-1", 60)
    assert not store.acquire_batch(batch, "engine-2", 60)
    assert store.batch_owner(batch) == "engine-1"
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert store.batch_owner(batch, now=later) is None
    assert store.acquire_batch(batch, "engine-2", 60, now=later)
    store.release_owner("engine-2")
    assert store.batch_owner(batch) is None


def test_iter_job_ids_pages_in_row_order_and_sees_claims_made_meanwhile(
    store: ManifestStore,
) -> None:
    store.create_batch(manifest("big"), jobs("big", 25))
    all_ids = store.job_ids("big")
    assert list(store.iter_job_ids("big", page=4)) == all_ids

    pending = store.iter_job_ids("big", [JobStatus.PENDING], page=4)
    seen = [next(pending) for _ in range(4)]
    assert store.claim_job(all_ids[10], "other-engine", lease_s=60) is not None
    seen += list(pending)
    assert seen == [i for i in all_ids if i != all_ids[10]], "a job claimed elsewhere is skipped"


# --- keys, run settings, owners (the SQL each backend spells its own way) ------------------


def keyed(batch_id: str, keys: list[str]) -> list[NewJob]:
    return [
        NewJob(f"{batch_id}-{i:06d}", batch_id, i, i + 2, {"n": str(i)}, key, JobStatus.PENDING, "")
        for i, key in enumerate(keys)
    ]


def test_duplicate_keys_are_listed_then_skipped_pointing_at_the_first(store: ManifestStore) -> None:
    seen: list[object] = []

    def settle(keys: BatchKeys) -> None:
        seen.extend([keys.duplicates(), keys.duplicates(limit=1), keys.skip_duplicates()])
        seen.append(keys.duplicates())

    store.create_batch(
        manifest("b1"), keyed("b1", ["a", "b", "a", "", "", "b", "a"]), settle=settle
    )
    assert seen == [[[2, 4, 8], [3, 7]], [[2, 4, 8]], 3, []]
    skipped = {j.source_line: j.error_message for j in store.iter_jobs("b1", [JobStatus.SKIPPED])}
    assert skipped == {
        4: "duplicate key of line 2",
        7: "duplicate key of line 3",
        8: "duplicate key of line 2",
    }


def test_a_batch_refused_in_settle_leaves_nothing(store: ManifestStore) -> None:
    def refuse(keys: BatchKeys) -> None:
        raise FileProcessingError(f"duplicate lines {keys.duplicates()}", path="clients.csv")

    with pytest.raises(FileProcessingError, match=r"duplicate lines \[\[2, 4\]\]"):
        store.create_batch(manifest("b1"), keyed("b1", ["a", "b", "a"]), settle=refuse)
    assert store.list_batches() == []
    assert raw_count(store.url, "SELECT COUNT(*) FROM jobs") == 0


def test_rows_completed_by_an_earlier_batch_of_the_flow_are_skipped(store: ManifestStore) -> None:
    store.create_batch(manifest("old"), keyed("old", ["a", "b"]))
    store.create_batch(manifest("other", flow_name="billing"), keyed("other", ["c"]))
    for job_id in ("old-000000", "other-000000"):
        token = store.claim_job(job_id, "w", 60)
        assert token is not None
        store.finish_job(job_id, token, attempt(1, ok=True), JobStatus.COMPLETED)
    skipped: list[int] = []
    store.create_batch(
        manifest("new"),
        keyed("new", ["a", "b", "c"]),
        settle=lambda keys: skipped.append(keys.skip_completed_elsewhere("signup")),
    )
    assert skipped == [1]
    assert store.get_job("new-000000").error_message == "already completed in batch old"
    assert store.count_by_status("new") == {JobStatus.SKIPPED: 1, JobStatus.PENDING: 2}


def test_run_settings_merge_into_the_recorded_ones(store: ManifestStore, batch: str) -> None:
    store.record_run_settings(batch, {"concurrency": 4, "base_url": "http://other"})
    assert store.get_manifest(batch).settings == {
        "base_url": "http://other",
        "max_retries": 2,
        "concurrency": 4,
    }


def test_running_owners_are_those_of_running_jobs(store: ManifestStore, batch: str) -> None:
    for job_id, owner in (("b1-000000", "host:1:a"), ("b1-000001", "host:2:b")):
        token = store.claim_job(job_id, owner, 60)
        assert token is not None
    done = store.claim_job("b1-000002", "host:3:c", 60)
    assert done is not None
    store.finish_job("b1-000002", done, attempt(1, ok=True), JobStatus.COMPLETED)
    assert store.running_owners(batch) == {"host:1:a", "host:2:b"}


def test_a_closed_store_stays_closed(store: ManifestStore, batch: str) -> None:
    store.close()
    with pytest.raises(StoreError, match="is closed"):
        store.get_manifest(batch)
