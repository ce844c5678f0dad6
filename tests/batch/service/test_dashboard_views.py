"""The dashboard's row pages on a real store: failures first, keyset cursors, secrets
masked (the pages render these views; test_dashboard.py drives them in Chromium)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from paths import FLOWS

from batch.engine import BatchEngine
from batch.models import AttemptRecord, BatchManifest, ErrorCategory, JobStatus
from batch.service.dashboard.views import RowCursor, batch_view, rows_page

CSV = "name,email,plan\n" + "".join(f"user{i},user{i}@example.com,basic\n" for i in range(7))


def failed_batch(engine: BatchEngine, tmp_path: Path, failing: set[int]) -> BatchManifest:
    """Seven pending rows, the ``failing`` row indexes failed (one attempt each)."""
    csv = tmp_path / "people.csv"
    csv.write_text(CSV, encoding="utf-8")
    manifest = engine.create_batch_jobs(csv, FLOWS / "add_customer.json")
    store = engine.store
    for job in store.iter_jobs(manifest.batch_id):
        if job.row_index in failing:
            token = store.claim_job(job.job_id, "test", 60)
            assert token is not None
            attempt = AttemptRecord(
                number=1,
                started_at=datetime.now(UTC),
                duration_s=1.5,
                ok=False,
                category=ErrorCategory.BUSINESS,
                message=f"rejected {job.row_data['email']}",
            )
            store.finish_job(
                job.job_id, token, attempt, JobStatus.FAILED, ErrorCategory.BUSINESS, "rejected"
            )
    return store.get_manifest(manifest.batch_id)


def numbers(page: object) -> list[int]:
    return [row.number for row in page.rows]  # type: ignore[attr-defined]


def test_failures_come_first_then_every_other_row_in_pages(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    engine = make_engine()
    manifest = failed_batch(engine, tmp_path, {2, 5})

    first = rows_page(engine.store, manifest, RowCursor(), 3)
    assert numbers(first) == [3, 6, 1]
    assert first.next == RowCursor(failures=False, after=0)
    second = rows_page(engine.store, manifest, first.next, 3)
    assert numbers(second) == [2, 4, 5]
    assert second.next is not None
    last = rows_page(engine.store, manifest, second.next, 3)
    assert numbers(last) == [7]
    assert last.next is None


def test_a_page_filled_by_failures_continues_with_the_first_other_row(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    engine = make_engine()
    manifest = failed_batch(engine, tmp_path, {2, 5})

    first = rows_page(engine.store, manifest, RowCursor(), 2)
    assert numbers(first) == [3, 6]
    assert first.next == RowCursor(failures=False, after=-1)
    assert numbers(rows_page(engine.store, manifest, first.next, 2)) == [1, 2]


def test_secret_columns_are_masked_and_counts_summarised(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    engine = make_engine()
    manifest = failed_batch(engine, tmp_path, {2})

    row = rows_page(engine.store, manifest, RowCursor(), 1).rows[0]
    # add_customer.json marks email secret: masked in the cells and in the error text
    assert row.keys == ("user2", "***", "basic")
    assert row.status is JobStatus.FAILED
    assert "user2@example.com" not in row.message
    view = batch_view(manifest)
    assert (view.total, view.done, view.percent) == (7, 1, 14)
    assert view.counts == (("pending", 6), ("failed", 1))
    assert view.success_rate == 0.0
