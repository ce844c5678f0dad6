"""With a broker configured the server hands batches to ``batchwright worker``
processes: a real redis-server, a real worker, real Chromium, the test site."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_server import StartService
from workers_cluster import RedisServer, wait_until, worker_env

from batch.models import BatchStatus, JobStatus
from batch.store import ManifestStore, default_store_path

from .test_batches_write import ADD_CUSTOMER, CUSTOMERS, upload
from .test_schedules import FAST, backdate, schedule_body, two_customers

pytestmark = pytest.mark.browser


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory)
    server.start()
    yield server.url
    server.stop()


def test_a_batch_created_through_the_api_runs_on_the_workers(
    start_server: StartService, site_url: str, redis_url: str, site: object
) -> None:
    server = start_server(broker_url=redis_url, base_url=site_url, retry_delay=0, jitter=0)
    log = server.workdir / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "batch", "--artifacts", str(server.artifacts), "worker",
         "--concurrency", "2"],
        env=worker_env(redis_url), stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_until(lambda: "ready" in log.read_text(errors="replace"), 90, "the worker")
        with server.client(server.write_key) as writer:
            created = upload(writer, csv=CUSTOMERS, flow=ADD_CUSTOMER)
        assert created.status_code == 202, created.text
        assert created.json()["run"] == "workers"
        batch_id = created.json()["batch_id"]
        with ManifestStore(default_store_path(server.artifacts)) as store:
            wait_until(
                lambda: store.get_manifest(batch_id).status is BatchStatus.FINISHED,
                120,
                "the batch to finish on the worker",
            )
            jobs = list(store.iter_jobs(batch_id))
        assert {job.status for job in jobs} == {JobStatus.COMPLETED}
        hosts = {attempt.host for job in jobs for attempt in job.attempts}
        assert len(hosts) == 1, hosts
        assert hosts.pop().endswith(f":{worker.pid}"), "run by the worker, not the server"
    finally:
        worker.terminate()
        worker.wait(30)


def test_a_scheduled_batch_goes_to_the_workers_with_its_priority(
    start_server: StartService, site_url: str, redis_url: str, site: object
) -> None:
    server = start_server(broker_url=redis_url, base_url=site_url, **FAST)
    two_customers(server.workdir)
    log = server.workdir / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "batch", "--artifacts", str(server.artifacts), "worker"],
        env=worker_env(redis_url), stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        with server.client(server.write_key) as writer:
            added = writer.post("/api/v1/schedules", json=schedule_body("urgent", priority="high"))
        assert added.status_code == 201, added.text
        backdate(str(default_store_path(server.artifacts)), "urgent")
        with ManifestStore(default_store_path(server.artifacts)) as store:
            wait_until(store.list_batches, 60, "the server to fire the schedule")
            (fired,) = store.list_batches()
            batch_id = fired.batch_id
            wait_until(
                lambda: store.get_manifest(batch_id).status is BatchStatus.FINISHED,
                120,
                "the scheduled batch to finish on the worker",
            )
            settings = store.get_manifest(batch_id).settings
            hosts = {a.host for job in store.iter_jobs(batch_id) for a in job.attempts}
        assert settings["schedule"]["name"] == "urgent"
        assert settings["workers"]["priority"] == "high"
        assert {h.rsplit(":", 1)[-1] for h in hosts} == {str(worker.pid)}, "run by the worker"
    finally:
        worker.terminate()
        worker.wait(30)
