"""The per-batch event sequence: every row status change numbered in its own
transaction, read back as "the changes after N", on both backends; two writer
processes finishing rows of one batch while a reader follows never make it miss one."""

from __future__ import annotations

import subprocess
import sys
import time

from batch.models import JobStatus
from batch.store import ManifestStore, StoreUrl
from batch.store._events import END_OF_SEQ
from runtime.outcome import ErrorCategory

from .test_store import attempt, jobs, manifest


def finish(store: ManifestStore, job_id: str, status: JobStatus = JobStatus.COMPLETED) -> None:
    token = store.claim_job(job_id, "w", 60)
    assert token is not None
    category = None if status is JobStatus.COMPLETED else ErrorCategory.BUSINESS
    store.finish_job(job_id, token, attempt(1, ok=category is None), status, category)


def test_each_status_change_takes_the_batchs_next_number(store: ManifestStore) -> None:
    store.create_batch(manifest("b1"), jobs("b1", 4))
    store.create_batch(manifest("b2"), jobs("b2", 2))
    assert store.row_changes("b1", (0, -1)) == []
    snapshot = store.event_snapshot("b1")
    assert snapshot is not None
    assert snapshot.seq == 0
    assert snapshot.counts == {JobStatus.PENDING: 4}
    assert store.claim_job("b1-000000", "w", 60) is not None  # starting is not an event
    assert store.event_snapshot("b1").seq == 0  # type: ignore[union-attr]
    finish(store, "b1-000001", JobStatus.FAILED)
    finish(store, "b2-000000")  # another batch's counter
    finish(store, "b1-000003")
    changes = store.row_changes("b1", (0, -1))
    assert [(c.seq, c.job_id, c.status) for c in changes] == [
        (1, "b1-000001", JobStatus.FAILED),
        (2, "b1-000003", JobStatus.COMPLETED),
    ]
    assert changes[0].error_category == "business"
    assert changes[0].duration_s == 0.5
    assert [c.seq for c in store.row_changes("b2", (0, -1))] == [1]
    # a retry moves the failed row again: it now reads at its newest number only
    assert store.requeue("b1", [JobStatus.FAILED]) == 1
    after_first = (1, END_OF_SEQ)
    assert [(c.seq, c.job_id, c.status) for c in store.row_changes("b1", after_first)] == [
        (2, "b1-000003", JobStatus.COMPLETED),
        (3, "b1-000001", JobStatus.PENDING),
    ]
    # a cancel numbers all its rows alike; the row index orders them, and pages split them
    assert store.cancel_pending("b1") == 2
    cancelled = store.row_changes("b1", (3, END_OF_SEQ))
    assert [(c.seq, c.row_index) for c in cancelled] == [(4, 1), (4, 2)]
    assert [c.row_index for c in store.row_changes("b1", (4, 1))] == [2]
    assert [c.row_index for c in store.row_changes("b1", (0, -1), upto=(4, 1))] == [3, 1]
    assert store.event_snapshot("missing") is None


def test_leases_lost_are_numbered_too(store: ManifestStore) -> None:
    store.create_batch(manifest("b1"), jobs("b1", 2))
    assert store.claim_job("b1-000000", "dead-worker", 60) is not None
    assert store.release_owner("dead-worker") == (1, 0)
    assert [(c.seq, c.status) for c in store.row_changes("b1", (0, -1))] == [(1, JobStatus.PENDING)]


_WRITER = """
import sys
from batch.models import AttemptRecord, JobStatus
from batch.store import ManifestStore
from datetime import UTC, datetime
url, owner, *ids = sys.argv[1:]
with ManifestStore(url) as store:
    for job_id in ids:
        token = store.claim_job(job_id, owner, 60)
        record = AttemptRecord(number=1, started_at=datetime.now(UTC), duration_s=0.01, ok=True)
        store.finish_job(job_id, token, record, JobStatus.COMPLETED)
"""


def test_a_reader_following_two_writer_processes_misses_no_row(store_url: StoreUrl) -> None:
    rows = 60
    with ManifestStore(store_url) as store:
        store.create_batch(manifest("b1"), jobs("b1", rows))
        ids = [f"b1-{i:06d}" for i in range(rows)]
        writers = [
            subprocess.Popen([sys.executable, "-c", _WRITER, str(store_url), f"w{n}", *ids[n::2]])
            for n in range(2)
        ]
        seen: dict[str, int] = {}
        position = (0, -1)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            running = any(w.poll() is None for w in writers)
            for change in store.row_changes("b1", position, limit=7):
                assert (change.seq, change.row_index) > position  # in order, never behind
                position = (change.seq, change.row_index)
                assert change.job_id not in seen  # each row changed once: seen once
                seen[change.job_id] = change.seq
            if not running and len(seen) == rows:
                break
            time.sleep(0.005)
        assert [w.wait() for w in writers] == [0, 0]
        assert sorted(seen) == ids
        assert sorted(seen.values()) == list(range(1, rows + 1))  # no gap, no repeat
        assert store.event_snapshot("b1").seq == rows  # type: ignore[union-attr]
