"""Issue 12: two real worker processes whose store is PostgreSQL (redis-server and the
server on free ports): every row entered once, one merged report, none lost or entered
twice when a worker is killed mid-batch."""

from __future__ import annotations

import json
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_server import PgServer
from workers_cluster import (
    Cluster,
    run_cli,
    submitted_emails,
    wait_until,
    worker_env,
    write_batch,
)

from batch.models import BatchStatus, JobStatus
from batch.store import ManifestStore

pytestmark = pytest.mark.browser

ROWS = 20


@pytest.fixture(scope="module")
def pg_cluster(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, pg_server: PgServer
) -> Iterator[Cluster]:
    """Two workers on an empty PostgreSQL schema (both create the tables at once)."""
    store_url = pg_server.new_schema()
    running = Cluster(tmp_path_factory.mktemp("pgcluster") / "artifacts", redis_url, store_url)
    running.artifacts.mkdir()
    try:
        running.ensure()
        yield running
    finally:
        running.stop()
        pg_server.drop_schema(store_url)


@pytest.fixture
def pg_workers(pg_cluster: Cluster) -> Cluster:
    pg_cluster.ensure()
    return pg_cluster


def attached_run(cluster: Cluster, site_url: str, data: Path, flow: Path) -> list[str]:
    return run_cli(cluster, "run", str(data), "--flow", str(flow), "--workers",
                   "--base-url", site_url, "--progress", "quiet")  # fmt: skip


def test_a_batch_on_two_workers_on_postgres_each_entered_once_one_report(
    pg_workers: Cluster, site: Any, site_url: str, tmp_path: Path
) -> None:
    assert pg_workers.store_url is not None
    data, flow = write_batch(tmp_path, ROWS)
    result = subprocess.run(
        attached_run(pg_workers, site_url, data, flow), cwd=tmp_path,
        env=worker_env(pg_workers.redis_url, pg_workers.store_url), capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    submitted = submitted_emails(site)
    assert len(submitted) == ROWS
    assert set(submitted.values()) == {1}, "a row was entered twice"
    assert not (pg_workers.artifacts / "batchwright.db").exists(), "a SQLite store was used"
    with ManifestStore(pg_workers.store_url) as store:
        batch_id = store.list_batches(1)[0].batch_id
        jobs = list(store.iter_jobs(batch_id))
        assert store.get_manifest(batch_id).status is BatchStatus.FINISHED
    assert [job.status for job in jobs] == [JobStatus.COMPLETED] * ROWS
    assert [len(job.attempts) for job in jobs] == [1] * ROWS
    report = json.loads((pg_workers.artifacts / batch_id / "summary.json").read_text())
    assert report["counts"]["completed"] == ROWS, "one merged report of both workers' rows"


def test_a_worker_killed_mid_batch_on_postgres_loses_no_row_and_enters_none_twice(
    pg_workers: Cluster, site: Any, site_url: str, tmp_path: Path
) -> None:
    assert pg_workers.store_url is not None
    data, flow = write_batch(tmp_path, ROWS, ms=400)
    attached = subprocess.Popen(
        attached_run(pg_workers, site_url, data, flow), cwd=tmp_path,
        env=worker_env(pg_workers.redis_url, pg_workers.store_url), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    victim = f":{pg_workers.procs[0].pid}:"
    with ManifestStore(pg_workers.store_url) as store:

        def running_on_victim() -> bool:
            batches = store.list_batches(1)
            if not batches or batches[0].csv_path != str(data):
                return False
            owners = store.running_owners(batches[0].batch_id)
            return batches[0].completed >= 3 and any(victim in owner for owner in owners)

        wait_until(running_on_victim, 90, "the first worker to be mid-batch")
        pg_workers.procs[0].send_signal(signal.SIGKILL)
        stdout, stderr = attached.communicate(timeout=120)
        batch_id = store.list_batches(1)[0].batch_id
        jobs = list(store.iter_jobs(batch_id))
        status = store.get_manifest(batch_id).status
    statuses = Counter(job.status for job in jobs)
    assert status is BatchStatus.FINISHED, stdout + stderr
    assert statuses[JobStatus.COMPLETED] + statuses[JobStatus.NEEDS_REVIEW] == ROWS, statuses
    assert attached.returncode == (1 if statuses[JobStatus.NEEDS_REVIEW] else 0), stderr
    submitted = submitted_emails(site)
    assert max(submitted.values()) == 1, "a row was entered twice"
    completed = {job.row_data["email"] for job in jobs if job.status is JobStatus.COMPLETED}
    assert completed <= set(submitted), "a completed row is missing from the site"
