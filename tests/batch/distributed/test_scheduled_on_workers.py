"""A schedule's slot fired to the workers: the ``on_workers`` launcher sends the rows
at the schedule's priority and follows the batch until it settles."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from workers_cluster import LEASE_S, Cluster, submitted_emails, write_batch

from batch.engine import BatchEngine
from batch.models import BatchStatus, JobStatus
from batch.schedule import Scheduler, add_schedule, list_schedules, on_workers
from batch.settings import load_settings
from batch.store import ManifestStore
from runtime.run_context import RunContext

pytestmark = pytest.mark.browser

ROWS = 6


async def test_a_fired_slot_runs_on_the_workers_at_the_schedules_priority(
    workers: Cluster, site: Any, site_url: str, tmp_path: Path
) -> None:
    data, flow = write_batch(tmp_path, ROWS, tag="sched")
    host = {
        "artifacts_dir": workers.artifacts,
        "broker_url": workers.redis_url,
        "base_url": site_url,
        "lease_s": LEASE_S,
    }

    def engine_for(options: Mapping[str, Any]) -> BatchEngine:
        return BatchEngine(RunContext(load_settings({**host, **options}, read_env=False)))

    added_at = datetime(2026, 12, 1, 12, tzinfo=UTC)
    with ManifestStore(workers.artifacts / "batchwright.db") as store:
        settings = load_settings({**host, "base_dir": tmp_path}, read_env=False)
        options = {"priority": "high"}
        add_schedule(
            store, "hourly", "0 * * * *", "UTC", data, str(flow), options, settings, added_at
        )
        scheduler = Scheduler(store, on_workers(), engine_for)
        (fired,) = await scheduler.tick(datetime(2026, 12, 1, 13, 0, 5, tzinfo=UTC))
        assert fired.outcome == "fired", fired.reason
        assert fired.batch_id is not None
        manifest = store.get_manifest(fired.batch_id)
        jobs = list(store.iter_jobs(fired.batch_id))
        (view,) = list_schedules(store, datetime(2026, 12, 1, 13, 1, tzinfo=UTC))
    assert manifest.status is BatchStatus.FINISHED
    assert manifest.settings["workers"]["priority"] == "high"
    assert manifest.settings["schedule"]["name"] == "hourly"
    assert [job.status for job in jobs] == [JobStatus.COMPLETED] * ROWS
    worker_hosts = {f"{socket.gethostname()}:{proc.pid}" for proc in workers.procs}
    assert {job.attempts[0].host for job in jobs} <= worker_hosts, "the workers ran them"
    assert sum(submitted_emails(site).values()) == ROWS
    assert (workers.artifacts / fired.batch_id / "report.html").is_file()
    assert view.last_batch["status"] == "finished"


async def test_a_directory_fires_a_group_whose_every_batch_runs_on_the_workers(
    workers: Cluster, site: Any, site_url: str, tmp_path: Path
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    _, flow = write_batch(exports, 3, tag="east")
    write_batch(exports, 2, tag="west")
    flow = flow.rename(tmp_path / "flow.yaml")
    for other in exports.glob("*.yaml"):
        other.unlink()
    host = {"artifacts_dir": workers.artifacts, "broker_url": workers.redis_url,
            "base_url": site_url, "lease_s": LEASE_S}  # fmt: skip

    def engine_for(options: Mapping[str, Any]) -> BatchEngine:
        return BatchEngine(RunContext(load_settings({**host, **options}, read_env=False)))

    added_at = datetime(2026, 12, 1, 12, tzinfo=UTC)
    with ManifestStore(workers.artifacts / "batchwright.db") as store:
        settings = load_settings({**host, "base_dir": tmp_path}, read_env=False)
        add_schedule(
            store, "folder", "0 * * * *", "UTC", exports, str(flow), {"priority": "low"},
            settings, added_at,
        )  # fmt: skip
        scheduler = Scheduler(store, on_workers(), engine_for)
        results = await scheduler.tick(datetime(2026, 12, 1, 13, 0, 5, tzinfo=UTC))
        (fired,) = [r for r in results if r.schedule == "folder"]
        assert fired.outcome == "fired", fired.reason
        assert fired.batch_id is not None
        group = store.get_group(fired.batch_id)
        manifests = [store.get_manifest(b) for b in group.batch_ids]
        views = list_schedules(store, datetime(2026, 12, 1, 13, 1, tzinfo=UTC))
    (view,) = [v for v in views if v.name == "folder"]  # the cluster's store is shared
    assert [m.total for m in manifests] == [3, 2]
    for manifest in manifests:
        assert manifest.status is BatchStatus.FINISHED
        assert manifest.settings["workers"]["priority"] == "low"
        assert manifest.settings["schedule"]["name"] == "folder"
    assert sum(submitted_emails(site).values()) == 5
    assert (workers.artifacts / "groups" / fired.batch_id / "index.html").is_file()
    assert (view.last_batch["status"], view.last_batch["total"]) == ("finished", 5)
