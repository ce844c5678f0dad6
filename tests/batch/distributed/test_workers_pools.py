"""Pools across two real worker processes: the entries live in the store (the workers
never see the accounts file), and no account serves two rows at once across workers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pool_inputs import write_pool_batch
from site_routes import sessions
from workers_cluster import Cluster, batch_id_of, run_cli, worker_env

from batch.models import JobStatus
from batch.store import ManifestStore

pytestmark = pytest.mark.browser


def test_twenty_rows_on_two_workers_share_three_accounts_without_overlap(
    workers: Cluster, site: Any, site_url: str, tmp_path: Path
) -> None:
    data, flow, names = write_pool_batch(tmp_path, rows=20, accounts=3, hold_ms=300)
    result = subprocess.run(
        run_cli(workers, "run", str(data), "--flow", str(flow), "--workers",
                "--base-url", site_url, "--progress", "lines"),
        cwd=tmp_path, env=worker_env(workers.redis_url), capture_output=True, text=True,
        timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    batch_id = batch_id_of(result.stdout)
    with ManifestStore(workers.artifacts / "batchwright.db") as store:
        jobs = list(store.iter_jobs(batch_id))
    assert [job.status for job in jobs] == [JobStatus.COMPLETED] * 20
    record = sessions(site)
    assert sum(record.logins[name] for name in names) == 20
    assert all(record.overlaps[name] == 0 for name in names), record.overlaps
    used = {job.attempts[-1].pool["account"] for job in jobs}
    assert used == set(names)
    report = json.loads((workers.artifacts / batch_id / "summary.json").read_text())
    assert sum(report["pools"]["attempts_by_entry"]["account"].values()) == 20
    assert report["pools"]["rows_waited"] > 0, "six worker slots, three accounts: rows waited"
