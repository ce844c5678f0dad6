"""Browsing the store (the HTTP API's reads): batches and jobs paged, filtered and
searched, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from batch.models import (
    AttemptRecord,
    BatchJob,
    BatchManifest,
    BatchStatus,
    CsvDialect,
    JobStatus,
    NewJob,
)
from batch.store import BatchFilter, BatchPosition, JobFilter, ManifestStore
from runtime.outcome import ErrorCategory

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def manifest(batch_id: str, flow_name: str, created_at: datetime) -> BatchManifest:
    return BatchManifest(
        batch_id=batch_id,
        run_id="run-1",
        csv_path="/data/clients.csv",
        csv_sha256="ab" * 32,
        encoding="utf-8",
        dialect=CsvDialect(delimiter=","),
        headers=["name", "password", "city"],
        flow_ref="flows/x.yaml",
        flow_name=flow_name,
        created_at=created_at,
    )


def seed_batches(store: ManifestStore) -> list[str]:
    """Seven batches an hour apart; b0..b6, flows alternating, b3 finished."""
    ids = []
    for i in range(7):
        batch_id = f"b{i}"
        flow = "signup" if i % 2 == 0 else "order"
        store.create_batch(manifest(batch_id, flow, T0 + timedelta(hours=i)), [])
        ids.append(batch_id)
    store.set_batch_status("b3", BatchStatus.FINISHED)
    return ids


def test_batches_newest_first_paged_by_cursor_and_offset(store: ManifestStore) -> None:
    seed_batches(store)
    first, total = store.browse_batches(limit=3)
    assert total == 7
    assert [m.batch_id for m in first] == ["b6", "b5", "b4"]
    last = first[-1]
    second, _ = store.browse_batches(
        limit=3, position=BatchPosition(last.created_at, last.batch_id)
    )
    assert [m.batch_id for m in second] == ["b3", "b2", "b1"]
    by_offset, _ = store.browse_batches(limit=3, offset=3)
    assert [m.batch_id for m in by_offset] == ["b3", "b2", "b1"]


def test_batches_same_instant_ties_break_by_id(store: ManifestStore) -> None:
    for batch_id in ("a", "c", "b"):
        store.create_batch(manifest(batch_id, "f", T0), [])
    first, _ = store.browse_batches(limit=2)
    assert [m.batch_id for m in first] == ["c", "b"]
    rest, _ = store.browse_batches(limit=2, position=BatchPosition(T0, "b"))
    assert [m.batch_id for m in rest] == ["a"]


def test_batches_filtered_by_status_flow_and_dates(store: ManifestStore) -> None:
    seed_batches(store)
    finished, total = store.browse_batches(BatchFilter(statuses=[BatchStatus.FINISHED]))
    assert [m.batch_id for m in finished] == ["b3"]
    assert total == 1
    orders, total = store.browse_batches(BatchFilter(flow="order"))
    assert [m.batch_id for m in orders] == ["b5", "b3", "b1"]
    window = BatchFilter(
        created_after=T0 + timedelta(hours=1), created_before=T0 + timedelta(hours=4)
    )
    between, total = store.browse_batches(window)
    assert [m.batch_id for m in between] == ["b3", "b2"]
    assert total == 2
    both, _ = store.browse_batches(BatchFilter(flow="signup", created_after=T0))
    assert [m.batch_id for m in both] == ["b6", "b4", "b2"]


def test_batches_carry_their_counts(store: ManifestStore) -> None:
    store.create_batch(manifest("b1", "f", T0), [new_job("b1", 0), new_job("b1", 1)])
    (found,), _ = store.browse_batches()
    assert found.total == 2
    assert found.count(JobStatus.PENDING) == 2


def new_job(batch_id: str, index: int, name: str = "Ada", code: str = "hunter2x") -> NewJob:
    row = {"name": name, "password": code, "city": "Lyon"}
    return NewJob(f"{batch_id}-{index:04d}", batch_id, index, index + 2, row, f"k{index}")


def seed_rows(store: ManifestStore) -> None:
    names = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Zoë Ada", "Edsger"]
    rows = [new_job("b1", i, name, code=f"s3cret-{i}") for i, name in enumerate(names)]
    rows.append(new_job("b1", 5, "Barbara", code="Ada-hidden"))
    store.create_batch(manifest("b1", "f", T0), rows)
    finish(store, "b1-0001", JobStatus.FAILED, ErrorCategory.BUSINESS, "already registered")
    finish(store, "b1-0002", JobStatus.FAILED, ErrorCategory.TRANSIENT, "timeout")
    finish(store, "b1-0003", JobStatus.COMPLETED, None, "")


def finish(
    store: ManifestStore,
    job_id: str,
    status: JobStatus,
    category: ErrorCategory | None,
    message: str,
) -> None:
    token = store.claim_job(job_id, "test-owner", 60)
    assert token is not None
    attempt = AttemptRecord(
        number=1,
        started_at=T0,
        duration_s=0.5,
        ok=category is None,
        category=category,
        message=message,
    )
    store.finish_job(job_id, token, attempt, status, category, message)


def numbers(jobs: list[BatchJob]) -> list[int]:
    return [job.row_index for job in jobs]


def test_jobs_paged_by_cursor_and_offset(store: ManifestStore) -> None:
    seed_rows(store)
    first = store.browse_jobs("b1", limit=4)
    assert numbers(first) == [0, 1, 2, 3]
    assert numbers(store.browse_jobs("b1", limit=4, after=3)) == [4, 5]
    assert numbers(store.browse_jobs("b1", limit=2, offset=2)) == [2, 3]
    assert store.browse_jobs("nope") == []


def test_jobs_filtered_by_status_and_category(store: ManifestStore) -> None:
    seed_rows(store)
    failed = store.browse_jobs("b1", JobFilter(statuses=[JobStatus.FAILED]))
    assert numbers(failed) == [1, 2]
    assert failed[0].error_message == "already registered"
    business = store.browse_jobs("b1", JobFilter(categories=[ErrorCategory.BUSINESS]))
    assert numbers(business) == [1]
    both = JobFilter(statuses=[JobStatus.COMPLETED], categories=[ErrorCategory.BUSINESS])
    assert store.browse_jobs("b1", both) == []


def test_jobs_searched_by_value_case_insensitively(store: ManifestStore) -> None:
    seed_rows(store)
    assert numbers(store.browse_jobs("b1", JobFilter(search="ada"))) == [0, 3, 5]
    assert numbers(store.browse_jobs("b1", JobFilter(search="zoë"))) == [3]
    assert numbers(store.browse_jobs("b1", JobFilter(search="LYON"), limit=2, after=1)) == [2, 3]
    # LIKE wildcards are plain characters here
    assert store.browse_jobs("b1", JobFilter(search="%")) == []
    assert store.browse_jobs("b1", JobFilter(search="_")) == []


def test_hidden_columns_are_never_searched(store: ManifestStore) -> None:
    seed_rows(store)
    hidden = JobFilter(search="s3cret", hidden=["password"])
    assert store.browse_jobs("b1", hidden) == []
    assert numbers(store.browse_jobs("b1", JobFilter(search="ada", hidden=["password"]))) == [
        0,
        3,
    ]
    assert numbers(store.browse_jobs("b1", JobFilter(search="ada-hidden"))) == [5]
    # column names are not values
    assert store.browse_jobs("b1", JobFilter(search="city")) == []


def test_iter_browse_jobs_walks_every_page(store: ManifestStore) -> None:
    seed_rows(store)
    found = list(store.iter_browse_jobs("b1", JobFilter(search="a"), page=2))
    assert numbers(found) == [0, 1, 2, 3, 5]
