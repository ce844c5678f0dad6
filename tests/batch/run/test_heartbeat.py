"""A lease holder whose event loop is blocked keeps its leases: the batch lease of the
in-process engine (``owning``), the job leases of an execution and of a worker. The
loop is blocked by a synchronous sleep longer than the lease (a slow store call, a big
report write, a starved CPU do the same); meanwhile another process's store would
reclaim anything expired. Real SQLite stores, real threads; the worker's real browser."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from batch.distributed.celery_app import make_app
from batch.distributed.worker_runtime import WorkerRuntime
from batch.ingest.creation import create_batch
from batch.models import JobStatus
from batch.run.execution import BatchExecution, ExecutionOptions
from batch.run.heartbeat import Heartbeat
from batch.run.ownership import owning
from batch.run.retry import RetryPolicy
from batch.settings import BatchSettings
from batch.store import ManifestStore
from runtime.flows.model import load_flow
from runtime.outcome import AttemptOutcome, JobSpec
from runtime.runners.base import CommitRecorder

LEASE_S = 1.0
BLOCKED_S = 2.5
"""Longer than two leases: no renewal made on the loop before the block can last it."""


def block_the_loop() -> None:
    """A synchronous sleep on the event loop's thread: what these tests are about."""
    time.sleep(BLOCKED_S)


def new_batch(store: ManifestStore, settings: BatchSettings, tmp_path: Path, rows: int) -> str:
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("n\n" + "".join(f"{n}\n" for n in range(rows)), encoding="utf-8")
    flow = tmp_path / "flow.yaml"
    flow.write_text('name: blocked\nsteps:\n  - goto: "http://app.test/{{ row.n }}"\n')
    return create_batch(csv_path, load_flow(flow), settings, store, run_id="r").batch_id


def another_process(store: ManifestStore) -> ManifestStore:
    """A store of its own on the same file, as another engine or worker opens it."""
    return ManifestStore(store.url)


async def test_a_blocked_loop_keeps_the_batch_lease_of_owning(
    settings: BatchSettings, tmp_path: Path
) -> None:
    with ManifestStore.for_settings(settings) as store, another_process(store) as other:
        batch_id = new_batch(store, settings, tmp_path, rows=1)
        async with owning(store, batch_id, lease_s=LEASE_S) as owner:
            block_the_loop()  # no task of the loop runs meanwhile
            assert not other.acquire_batch(batch_id, "elsewhere:1:cafe", LEASE_S), (
                "the lease expired while its holder ran: another engine took the batch"
            )
            assert other.batch_owner(batch_id) == owner
        assert other.batch_owner(batch_id) is None, "released once the block ends"


class BlockingRunner:
    """Attempts that block the event loop (a synchronous sleep), then look, as another
    process would, for expired leases to take over: what it finds is recorded."""

    def __init__(self, other: ManifestStore) -> None:
        self.other = other
        self.taken_over: list[tuple[int, int]] = []

    def bind(self, _recorder: CommitRecorder) -> BlockingRunner:
        return self

    async def run(self, spec: JobSpec) -> AttemptOutcome:
        block_the_loop()
        self.taken_over.append(self.other.requeue_stale(spec.batch_id))
        return AttemptOutcome(ok=True, duration_s=BLOCKED_S)


async def test_a_blocked_loop_keeps_the_job_leases_of_an_execution(
    settings: BatchSettings, tmp_path: Path
) -> None:
    with ManifestStore.for_settings(settings) as store, another_process(store) as other:
        batch_id = new_batch(store, settings, tmp_path, rows=2)
        runner = BlockingRunner(other)
        options = ExecutionOptions(concurrency=2, lease_s=LEASE_S, poll_interval_s=0.2)
        await BatchExecution(store, batch_id, runner.bind, RetryPolicy(), options).run()
        assert runner.taken_over == [(0, 0), (0, 0)], "no running row was found expired"
        jobs = list(store.iter_jobs(batch_id))
        assert [job.status for job in jobs] == [JobStatus.COMPLETED] * 2
        assert [len(job.attempts) for job in jobs] == [1, 1], "each row ran once"


@pytest.mark.browser
def test_a_blocked_worker_loop_keeps_its_job_leases(make_settings: Any, tmp_path: Path) -> None:
    settings = make_settings(broker_url="redis://127.0.0.1:1/0", lease_s=LEASE_S)
    runtime = WorkerRuntime(settings, make_app(settings))
    runtime.start()
    try:
        batch_id = new_batch(runtime.store, settings, tmp_path, rows=1)
        (job_id,) = runtime.store.job_ids(batch_id)
        assert runtime.store.claim_job(job_id, runtime.owner, LEASE_S) is not None

        with another_process(runtime.store) as other:

            async def block_then_look() -> tuple[int, int]:
                block_the_loop()  # as a slow synchronous call on the worker's loop
                return other.requeue_stale(batch_id)  # before the loop runs anything else

            assert runtime.call(block_then_look()) == (0, 0), "the worker's job lease expired"
            assert other.get_job(job_id).status is JobStatus.RUNNING
    finally:
        runtime.stop()


def test_no_renewal_follows_stop(settings: BatchSettings, tmp_path: Path) -> None:
    with ManifestStore.for_settings(settings) as store:
        batch_id = new_batch(store, settings, tmp_path, rows=1)
        assert store.acquire_batch(batch_id, "me:1:cafe", LEASE_S)
        beat = Heartbeat(store, "me:1:cafe", LEASE_S, interval_s=0.01).start()
        time.sleep(0.05)
        beat.stop()
        stopped_at = datetime.now(UTC)
        time.sleep(0.2)  # a thread still beating would renew some twenty times
        expired = stopped_at + timedelta(seconds=LEASE_S + 0.005)
        assert store.batch_owner(batch_id, now=expired) is None, "renewed after stop"


def test_a_late_renewal_is_logged(
    settings: BatchSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A store too slow for the lease (another process holds its write lock) is said."""
    with ManifestStore.for_settings(settings) as store, another_process(store) as other:
        batch_id = new_batch(store, settings, tmp_path, rows=1)
        assert store.acquire_batch(batch_id, "me:1:cafe", LEASE_S)
        with Heartbeat(store, "me:1:cafe", LEASE_S, interval_s=0.05):
            time.sleep(0.2)
            with other.transaction():
                time.sleep(0.7)  # longer than half the lease: the renewal waits for it
            time.sleep(0.2)
    messages = [record.getMessage() for record in caplog.records]
    late = [message for message in messages if "after the last renewal" in message]
    assert late, "a renewal late by more than half the lease is logged"
    assert "me:1:cafe" in late[0]
    assert "lease 1s" in late[0]


def test_a_heartbeat_too_slow_for_its_lease_is_refused(settings: BatchSettings) -> None:
    with ManifestStore.for_settings(settings) as store, pytest.raises(ValueError, match="3s"):
        Heartbeat(store, "me:1:cafe", lease_s=3.0, interval_s=3.0)
