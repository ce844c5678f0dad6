"""One engine at a time on a batch: a second engine that would execute, resume or
retry a batch another live engine runs is refused; a dead engine never blocks.
Real Chromium, the local site, two engines on one SQLite store."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from batch.engine import BatchEngine
from batch.exceptions import BatchBusyError, BatchEngineError
from batch.models import BatchStatus, JobStatus

pytestmark = pytest.mark.browser


def slow_batch(tmp_path: Path, rows: int, ms: int) -> tuple[Path, Path]:
    csv_path = tmp_path / "slow.csv"
    csv_path.write_text("n\n" + "".join(f"{n}\n" for n in range(rows)), encoding="utf-8")
    flow = tmp_path / "slow.yaml"
    flow.write_text(
        f'name: slow\nsteps:\n  - goto: "{{{{ base_url }}}}/slow?ms={ms}&n={{{{ row.n }}}}"\n',
        encoding="utf-8",
    )
    return csv_path, flow


async def until_running(engine: BatchEngine, batch_id: str) -> None:
    for _ in range(600):
        if engine.store.count_by_status(batch_id).get(JobStatus.RUNNING):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the batch never started running")


async def test_a_second_engine_is_refused_while_the_first_runs_the_batch(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    csv_path, flow = slow_batch(tmp_path, rows=6, ms=300)
    first, second = make_engine(concurrency=1), make_engine(concurrency=1)
    manifest = first.create_batch_jobs(csv_path, flow)
    batch_id = manifest.batch_id
    running = asyncio.create_task(first.execute_batch_jobs(batch_id))
    await until_running(first, batch_id)

    attempts = {
        "execute": lambda: second.execute_batch_jobs(batch_id),
        "resume": lambda: second.resume_batch(batch_id),
        "retry": lambda: second.retry_batch_jobs(batch_id),
    }
    for name, attempt in attempts.items():
        with pytest.raises(BatchBusyError) as refused:
            await attempt()
        message = str(refused.value)
        assert batch_id in message, name
        assert f"{socket.gethostname()}, pid {os.getpid()}" in message, name
        assert isinstance(refused.value, BatchEngineError)
        assert refused.value.batch_id == batch_id

    summary = await running
    assert summary.count(JobStatus.COMPLETED) == 6, (
        "the refusals did not disturb the running engine"
    )
    assert first.store.batch_owner(batch_id) is None, "the owner lets go when it is done"
    again = await second.resume_batch(batch_id)
    assert again.count(JobStatus.COMPLETED) == 6, (
        "once the first engine finished, the second may resume"
    )


async def test_a_dead_engine_of_this_host_does_not_block_a_resume(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    csv_path, flow = slow_batch(tmp_path, rows=3, ms=10)
    engine = make_engine()
    batch_id = engine.create_batch_jobs(csv_path, flow).batch_id
    dead = f"{socket.gethostname()}:999999999:deadbeef"  # a pid no process has
    assert engine.store.acquire_batch(batch_id, dead, lease_s=3600)
    job_id = engine.store.job_ids(batch_id)[0]
    assert engine.store.claim_job(job_id, dead, lease_s=3600) is not None

    summary = await engine.resume_batch(batch_id)
    assert summary.count(JobStatus.COMPLETED) == 3
    assert engine.store.get_manifest(batch_id).status is BatchStatus.FINISHED


async def test_another_hosts_engine_blocks_until_its_lease_expires(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    csv_path, flow = slow_batch(tmp_path, rows=2, ms=10)
    engine = make_engine()
    batch_id = engine.create_batch_jobs(csv_path, flow).batch_id
    assert engine.store.acquire_batch(batch_id, "worker-7:4242:cafe", lease_s=3600)
    with pytest.raises(BatchBusyError, match=r"worker-7, pid 4242"):
        await engine.execute_batch_jobs(batch_id)
    assert engine.store.count_by_status(batch_id) == {JobStatus.PENDING: 2}

    expired = datetime.now(UTC) - timedelta(hours=2)
    assert engine.store.acquire_batch(batch_id, "worker-7:4242:cafe", lease_s=1, now=expired)
    assert (await engine.execute_batch_jobs(batch_id)).count(JobStatus.COMPLETED) == 2
