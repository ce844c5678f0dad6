"""Batches on two real worker processes: every row once, whatever is delivered twice
or whichever worker dies."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis
from paths import REPO
from workers_cluster import (
    LEASE_S,
    Cluster,
    RedisServer,
    batch_id_of,
    run_cli,
    submitted_emails,
    wait_until,
    worker_env,
    write_batch,
)

from batch.distributed.celery_app import QUEUE, make_app, publish_job
from batch.distributed.dispatch import DistributedRun
from batch.engine import BatchEngine
from batch.exceptions import BatchBusyError
from batch.models import BatchStatus, JobStatus
from batch.run.ownership import taking
from batch.settings import BatchSettings, load_settings
from batch.store import ManifestStore
from runtime.outcome import ErrorCategory
from runtime.run_context import RunContext

pytestmark = pytest.mark.browser

ROWS = 30


def test_a_batch_on_two_workers_each_entered_once_one_report(
    workers: Cluster, site: Any, site_url: str, tmp_path: Path
) -> None:
    data, flow = write_batch(tmp_path, ROWS)
    result = subprocess.run(
        run_cli(workers, "run", str(data), "--flow", str(flow), "--workers",
                "--base-url", site_url, "--progress", "lines"),
        cwd=tmp_path, env=worker_env(workers.redis_url), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    submitted = submitted_emails(site)
    assert len(submitted) == ROWS
    assert set(submitted.values()) == {1}, "a row was entered twice"
    batch_id = batch_id_of(result.stdout)
    with ManifestStore(workers.artifacts / "batchwright.db") as store:
        jobs = list(store.iter_jobs(batch_id))
        assert store.get_manifest(batch_id).status is BatchStatus.FINISHED
    assert [job.status for job in jobs] == [JobStatus.COMPLETED] * ROWS
    assert [len(job.attempts) for job in jobs] == [1] * ROWS
    hosts = Counter(job.attempts[0].host for job in jobs)
    worker_hosts = {f"{socket.gethostname()}:{proc.pid}" for proc in workers.procs}
    assert set(hosts) <= worker_hosts, f"attempts must record the worker that ran them: {hosts}"
    report = json.loads((workers.artifacts / batch_id / "summary.json").read_text())
    assert report["counts"]["completed"] == ROWS, "one merged report of both workers' rows"
    assert "concurrency" in report


def cluster_settings(cluster: Cluster, site_url: str, tmp_path: Path) -> BatchSettings:
    return load_settings(
        {
            "artifacts_dir": cluster.artifacts,
            "base_dir": tmp_path,
            "broker_url": cluster.redis_url,
            "base_url": site_url,
            "lease_s": LEASE_S,
        },
        read_env=False,
    )


def queue_drained(cluster: Cluster) -> bool:
    """No message waiting in the queue, none delivered and unacknowledged."""
    client = redis.Redis.from_url(cluster.redis_url)
    lists = [key for key in client.keys(f"{QUEUE}*") if client.type(key) == b"list"]
    waiting = sum(int(client.llen(key)) for key in lists)
    return waiting == 0 and int(client.hlen("unacked")) == 0


def submit(cluster: Cluster, site_url: str, tmp_path: Path, data: Path, flow: Path) -> str:
    """Create a batch in this process and hand it to the workers (detached)."""
    engine = BatchEngine(RunContext(cluster_settings(cluster, site_url, tmp_path)))
    manifest = engine.create_batch_jobs(data, flow)
    DistributedRun(engine, manifest.batch_id).submit()
    engine.close()
    return manifest.batch_id


def store_of(cluster: Cluster) -> ManifestStore:
    return ManifestStore(cluster.artifacts / "batchwright.db")


def test_duplicated_messages_for_a_running_and_a_finished_job_run_nothing(
    workers: Cluster, site: Any, site_url: str, tmp_path: Path
) -> None:
    # idempotent: no commit mark guards the click, only the claim in the store
    batch_id = submit(
        workers, site_url, tmp_path, *write_batch(tmp_path, 1, ms=2500, idempotent=True)
    )
    job_id = f"{batch_id}-000000"
    app = make_app(cluster_settings(workers, site_url, tmp_path))
    with store_of(workers) as store:
        wait_until(lambda: store.get_job(job_id).status is JobStatus.RUNNING, 30, "the job to run")
        publish_job(app, batch_id, job_id)  # while its lease is live
        wait_until(
            lambda: store.get_manifest(batch_id).status is BatchStatus.FINISHED, 60, "the batch"
        )
        publish_job(app, batch_id, job_id)  # once it is finished
        publish_job(app, batch_id, job_id)
        wait_until(lambda: queue_drained(workers), 30, "the duplicates to be consumed")
        time.sleep(1.0)  # a second run would take longer than this to record anything
        job = store.get_job(job_id)
    assert job.status is JobStatus.COMPLETED
    assert len(job.attempts) == 1, "a duplicated message ran the job again"
    assert submitted_emails(site) == Counter({"c0@example.com": 1})


def test_a_worker_killed_mid_batch_loses_no_row_and_enters_none_twice(
    workers: Cluster, site: Any, site_url: str, tmp_path: Path
) -> None:
    rows = 20
    data, flow = write_batch(tmp_path, rows, ms=400)
    attached = subprocess.Popen(
        run_cli(workers, "run", str(data), "--flow", str(flow), "--workers",
                "--base-url", site_url, "--progress", "quiet"),
        cwd=tmp_path, env=worker_env(workers.redis_url), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    with store_of(workers) as store:

        def running_on_victim() -> bool:
            batches = store.list_batches(1)
            if not batches or batches[0].csv_path != str(data):
                return False
            owners = store.running_owners(batches[0].batch_id)
            return batches[0].completed >= 3 and any(
                f":{workers.procs[0].pid}:" in owner for owner in owners
            )

        wait_until(running_on_victim, 90, "the first worker to be mid-batch")
        workers.procs[0].send_signal(signal.SIGKILL)
        stdout, stderr = attached.communicate(timeout=120)
        batch_id = store.list_batches(1)[0].batch_id
        jobs = list(store.iter_jobs(batch_id))
        status = store.get_manifest(batch_id).status
    statuses = Counter(job.status for job in jobs)
    assert status is BatchStatus.FINISHED, stdout + stderr
    assert statuses[JobStatus.COMPLETED] + statuses[JobStatus.NEEDS_REVIEW] == rows, statuses
    assert attached.returncode == (1 if statuses[JobStatus.NEEDS_REVIEW] else 0), stderr
    submitted = submitted_emails(site)
    assert max(submitted.values()) == 1, "a row was entered twice"
    completed = {job.row_data["email"] for job in jobs if job.status is JobStatus.COMPLETED}
    assert completed <= set(submitted), "a completed row is missing from the site"


def first_starts(store: ManifestStore, batch_id: str) -> list[float]:
    """When each job's first attempt started (seconds since the epoch), in row order."""
    return [job.attempts[0].started_at.timestamp() for job in store.iter_jobs(batch_id)]


def test_a_high_priority_batch_overtakes_a_low_one_already_queued(
    workers: Cluster, site_url: str, tmp_path: Path
) -> None:
    settings = cluster_settings(workers, site_url, tmp_path)
    engine = BatchEngine(RunContext(settings))
    low_csv, low_flow = write_batch(tmp_path, 18, ms=400, tag="low")
    high_csv, high_flow = write_batch(tmp_path, 3, ms=100, tag="high")
    low = engine.create_batch_jobs(low_csv, low_flow).batch_id
    high = engine.create_batch_jobs(high_csv, high_flow).batch_id
    DistributedRun(engine, low, priority="low").submit()
    with store_of(workers) as store:
        wait_until(lambda: store.count_by_status(low).get(JobStatus.RUNNING), 30, "low rows")
        DistributedRun(engine, high, priority="high").submit()
        for batch_id in (high, low):
            wait_until(
                lambda b=batch_id: store.get_manifest(b).status is BatchStatus.FINISHED,
                90,
                f"batch {batch_id}",
            )
        last_high = max(first_starts(store, high))
        low_after = [start for start in first_starts(store, low) if start > last_high]
    engine.close()
    # 6 slots took the first low rows; 12 waited. In arrival order the high rows would
    # start after all of them; by priority, before all but the few already fetched.
    assert len(low_after) >= 6, f"only {len(low_after)} low rows started after the high ones"


def test_rate_limit_holds_across_both_workers(
    workers: Cluster, site_url: str, tmp_path: Path
) -> None:
    settings = cluster_settings(workers, site_url, tmp_path).with_overrides(rate=5.0)
    engine = BatchEngine(RunContext(settings))
    data, flow = write_batch(tmp_path, 10, ms=50, idempotent=True)
    batch_id = engine.create_batch_jobs(data, flow).batch_id
    DistributedRun(engine, batch_id).submit()
    with store_of(workers) as store:
        wait_until(
            lambda: store.get_manifest(batch_id).status is BatchStatus.FINISHED, 60, "the batch"
        )
        starts = sorted(first_starts(store, batch_id))
    engine.close()
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    # 6 free slots on two workers: unlimited, rows start together; one limiter per
    # process would let both workers start a row in the same instant
    assert starts[-1] - starts[0] >= 9 / 5 * 0.8, gaps
    assert min(gaps) >= 0.1, gaps


def test_detached_batch_cancelled_from_another_process_then_resumed_on_the_workers(
    workers: Cluster, site: Any, site_url: str, tmp_path: Path
) -> None:
    data, flow = write_batch(tmp_path, 30, ms=800)
    env = worker_env(workers.redis_url)
    detached = subprocess.run(
        run_cli(workers, "run", str(data), "--flow", str(flow), "--workers", "--detach",
                "--base-url", site_url),
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert detached.returncode == 0, detached.stderr
    batch_id = detached.stdout.split()[-1]
    with store_of(workers) as store:
        wait_until(lambda: store.get_manifest(batch_id).completed >= 2, 60, "rows to complete")
        cancel = subprocess.run(
            run_cli(workers, "cancel", batch_id),
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert cancel.returncode == 0, cancel.stderr
        wait_until(
            lambda: store.get_manifest(batch_id).status is BatchStatus.INTERRUPTED, 60, "stop"
        )
        counts = store.count_by_status(batch_id)
        assert not store.cancel_requested(batch_id), "the flag is cleared for a resume"
    assert counts.get(JobStatus.CANCELLED, 0) >= 3, counts
    assert not counts.get(JobStatus.RUNNING), counts
    assert not counts.get(JobStatus.PENDING), counts
    assert max(submitted_emails(site).values()) == 1
    report = workers.artifacts / batch_id / "report.html"
    wait_until(report.is_file, 30, "the worker that settled the batch to write its report")
    resumed = subprocess.run(
        run_cli(workers, "resume", batch_id, "--workers", "--progress", "quiet"),
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    submitted = submitted_emails(site)
    assert len(submitted) == 30, "the resume on the workers entered the cancelled rows"
    assert max(submitted.values()) == 1


def test_ctrl_c_on_the_attached_run_asks_the_workers_to_stop(
    workers: Cluster, site_url: str, tmp_path: Path
) -> None:
    data, flow = write_batch(tmp_path, 30, ms=800)
    attached = subprocess.Popen(
        run_cli(workers, "run", str(data), "--flow", str(flow), "--workers",
                "--base-url", site_url, "--progress", "lines"),
        cwd=tmp_path, env=worker_env(workers.redis_url), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    with store_of(workers) as store:

        def started() -> bool:
            batches = store.list_batches(1)
            mine = bool(batches) and batches[0].csv_path == str(data)
            return mine and batches[0].completed >= 2

        wait_until(started, 60, "rows to complete")
        attached.send_signal(signal.SIGINT)
        _, stderr = attached.communicate(timeout=60)
        manifest = store.list_batches(1)[0]
    assert attached.returncode == 130, stderr
    assert manifest.status is BatchStatus.INTERRUPTED
    assert manifest.count(JobStatus.CANCELLED) >= 3
    assert not manifest.count(JobStatus.RUNNING)


def test_redis_stopped_mid_batch_and_started_again_the_batch_completes(
    workers: Cluster, redis_server: RedisServer, site: Any, site_url: str, tmp_path: Path
) -> None:
    rows = 20
    data, flow = write_batch(tmp_path, rows, ms=300)
    attached = subprocess.Popen(
        run_cli(workers, "run", str(data), "--flow", str(flow), "--workers",
                "--base-url", site_url, "--progress", "quiet"),
        cwd=tmp_path, env=worker_env(workers.redis_url), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    with store_of(workers) as store:

        def started() -> bool:
            batches = store.list_batches(1)
            mine = bool(batches) and batches[0].csv_path == str(data)
            return mine and batches[0].completed >= 3

        wait_until(started, 60, "rows to complete")
        redis_server.stop()  # every queued message is lost with it
        time.sleep(3)
        redis_server.start()
        stdout, stderr = attached.communicate(timeout=120)
        manifest = store.list_batches(1)[0]
    assert attached.returncode == 0, stdout + stderr
    assert manifest.completed == rows
    submitted = submitted_emails(site)
    assert len(submitted) == rows
    assert max(submitted.values()) == 1, "a row was entered twice"


def test_the_circuit_breaker_counts_every_workers_failures(
    workers: Cluster, site_url: str, tmp_path: Path
) -> None:
    settings = cluster_settings(workers, site_url, tmp_path).with_overrides(
        circuit_breaker=3, max_retries=0
    )
    engine = BatchEngine(RunContext(settings))
    data = tmp_path / "rows.csv"
    data.write_text("n\n" + "".join(f"{n}\n" for n in range(24)), encoding="utf-8")
    flow = tmp_path / "down.yaml"
    flow.write_text('name: down\nsteps:\n  - goto: "{{ base_url }}/always500"\n', "utf-8")
    batch_id = engine.create_batch_jobs(data, flow).batch_id
    DistributedRun(engine, batch_id).submit()
    engine.close()
    with store_of(workers) as store:
        wait_until(
            lambda: store.get_manifest(batch_id).status is BatchStatus.INTERRUPTED, 60, "stop"
        )
        manifest = store.get_manifest(batch_id)
    # as in-process: the failures before the one that opens the breaker stay failed,
    # counted over both workers (one breaker per worker would let each fail 2 rows)
    assert manifest.failed == 2, manifest.counts
    assert manifest.count(JobStatus.PENDING) >= 12, manifest.counts
    assert not manifest.count(JobStatus.RUNNING)


def test_a_retry_is_a_new_delayed_message_and_a_new_claim_with_every_attempt_recorded(
    workers: Cluster, site_url: str, tmp_path: Path
) -> None:
    # the run's retry settings travel with the batch (the workers' env says no delay)
    settings = cluster_settings(workers, site_url, tmp_path).with_overrides(
        max_retries=3, retry_delay=1.0, backoff_factor=1.0, jitter=0.0
    )
    engine = BatchEngine(RunContext(settings))
    data = tmp_path / "keys.csv"
    data.write_text("key\nfirst\nsecond\n", encoding="utf-8")
    flow = tmp_path / "flaky.yaml"
    flow.write_text(
        'name: flaky\nsteps:\n  - goto: "{{ base_url }}/flaky/{{ row.key }}?fail=2"\n'
        '  - expect_text: { selector: ".ok", text: "ok" }\n',
        "utf-8",
    )
    batch_id = engine.create_batch_jobs(data, flow).batch_id
    DistributedRun(engine, batch_id).submit()
    engine.close()
    with store_of(workers) as store:
        wait_until(
            lambda: store.get_manifest(batch_id).status is BatchStatus.FINISHED, 60, "the batch"
        )
        jobs = list(store.iter_jobs(batch_id))
    for job in jobs:
        assert job.status is JobStatus.COMPLETED
        assert [a.number for a in job.attempts] == [1, 2, 3]
        assert [a.ok for a in job.attempts] == [False, False, True]
        assert job.attempts[0].category is ErrorCategory.TRANSIENT
        first, second = job.attempts[0], job.attempts[1]
        gap = (second.started_at - first.started_at).total_seconds() - first.duration_s
        assert gap >= 0.9, f"the retry waited {gap:.2f}s, not the policy's 1 s"


def test_max_failures_counts_every_workers_failed_rows(
    workers: Cluster, site_url: str, tmp_path: Path
) -> None:
    settings = cluster_settings(workers, site_url, tmp_path).with_overrides(
        max_failures=3, max_retries=0, circuit_breaker=0
    )
    engine = BatchEngine(RunContext(settings))
    data = tmp_path / "rows.csv"
    data.write_text("n\n" + "".join(f"{n}\n" for n in range(30)), encoding="utf-8")
    flow = tmp_path / "wrong.yaml"
    flow.write_text(
        'name: wrong\nsteps:\n  - goto: "{{ base_url }}/"\n'
        '  - expect_text: { selector: "body", text: "no such page" }\n    timeout: 1\n',
        "utf-8",
    )
    batch_id = engine.create_batch_jobs(data, flow).batch_id
    DistributedRun(engine, batch_id).submit()
    engine.close()
    with store_of(workers) as store:
        wait_until(
            lambda: store.get_manifest(batch_id).status is BatchStatus.INTERRUPTED, 60, "stop"
        )
        manifest = store.get_manifest(batch_id)
    # the third failed row, on whichever worker, stops both; rows already running finish
    assert 3 <= manifest.failed <= 3 + 5, manifest.counts
    assert manifest.count(JobStatus.PENDING) >= 30 - 8, manifest.counts
    assert "max-failures" in str(manifest.settings.get("stop_reason"))


def test_needs_review_rows_are_settled_by_the_workers_running_the_verify_steps(
    workers: Cluster, site: Any, site_url: str, tmp_path: Path
) -> None:
    flow = tmp_path / "verified.yaml"  # the example: idempotent false, with verify steps
    flow.write_text((REPO / "examples" / "add_customer.yaml").read_text(encoding="utf-8"))
    data = tmp_path / "people.csv"
    data.write_text(
        "name,email,plan,notes\nA,a@example.com,pro,\nB,b@example.com,pro,\nC,c@example.com,pro,\n"
    )
    engine = BatchEngine(RunContext(cluster_settings(workers, site_url, tmp_path)))
    batch_id = engine.create_batch_jobs(data, flow).batch_id
    job_ids = engine.store.job_ids(batch_id)
    dead = f"{socket.gethostname()}:999999999:deadbeef"  # an engine that crashed mid-row
    for job_id in job_ids[:2]:
        token = engine.store.claim_job(job_id, dead, lease_s=3600)
        assert token is not None
        engine.store.mark_reached_commit(job_id, token)
    # the crash happened after A's submit reached the app, before B's did
    site.state.add_customer({"name": "A", "email": "a@example.com", "plan": "pro", "notes": ""})

    run = DistributedRun(engine, batch_id)
    run.submit()
    summary = asyncio.run(run.attach())
    engine.close()

    with store_of(workers) as store:
        jobs = [store.get_job(job_id) for job_id in job_ids]
    assert [job.status for job in jobs] == [JobStatus.COMPLETED] * 3
    assert jobs[0].error_message == "verified: the record exists"
    assert jobs[0].attempts == [], "found by the verify steps: never entered again"
    assert len(jobs[1].attempts) == 1, "not found: entered by the workers"
    assert submitted_emails(site) == Counter(
        {"a@example.com": 1, "b@example.com": 1, "c@example.com": 1}
    )
    assert summary.completed_jobs == 3


async def test_a_batch_the_workers_run_is_refused_to_an_in_process_engine_and_back(
    workers: Cluster, site: Any, site_url: str, tmp_path: Path
) -> None:
    data, flow = write_batch(tmp_path, 12, ms=1500, idempotent=True)
    engine = BatchEngine(RunContext(cluster_settings(workers, site_url, tmp_path)))
    batch_id = engine.create_batch_jobs(data, flow).batch_id
    DistributedRun(engine, batch_id).submit()
    wait_until(lambda: engine.store.running_owners(batch_id), 60, "the workers to start rows")
    with pytest.raises(BatchBusyError) as refused:
        await engine.execute_batch_jobs(batch_id)
    assert int(refused.value.pid) in {proc.pid for proc in workers.procs}
    engine.cancel_batch(batch_id)
    wait_until(
        lambda: engine.store.get_manifest(batch_id).status is BatchStatus.INTERRUPTED, 60, "stop"
    )
    with taking(engine.store, batch_id), pytest.raises(BatchBusyError, match=batch_id):
        DistributedRun(engine, batch_id).submit()  # an in-process engine holds it now
    assert max(submitted_emails(site).values()) == 1
    engine.close()
