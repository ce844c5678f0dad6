"""Pools across two real worker processes: the entries live in the store (the workers
never see the accounts file), no account serves two rows at once across workers, and a
worker killed while holding one strands it not."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pool_inputs import write_pool_batch
from site_routes import sessions
from workers_cluster import Cluster, batch_id_of, run_cli, wait_until, worker_env

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
    assert report["pools"]["attempts_waited"] > 0, "six worker slots, three accounts: rows waited"


def test_a_worker_killed_holding_an_account_strands_it_not(
    workers: Cluster, site: Any, site_url: str, tmp_path: Path
) -> None:
    """SIGKILL a worker while one of its rows holds an account: once that job's lease
    expires the other worker recovers the row, and the account serves again."""
    data, flow, names = write_pool_batch(tmp_path, rows=12, accounts=2, hold_ms=1200)
    attached = subprocess.Popen(
        run_cli(workers, "run", str(data), "--flow", str(flow), "--workers",
                "--base-url", site_url, "--progress", "quiet"),
        cwd=tmp_path, env=worker_env(workers.redis_url), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    victim = workers.procs[0].pid
    db = workers.artifacts / "batchwright.db"
    held: list[str] = []

    def victim_holds_an_account() -> bool:
        with ManifestStore(db) as store:
            batches = store.list_batches(1)
            if not batches or batches[0].csv_path != str(data):
                return False
            leased = {e.leased_by: e.key for e in store.pool_entries(batches[0].batch_id)}
        with sqlite3.connect(db) as conn:
            for job_id, key in leased.items():
                row = conn.execute(
                    "SELECT lease_owner FROM jobs WHERE job_id = ?", (job_id,)
                ).fetchone()
                if job_id and row and f":{victim}:" in (row[0] or ""):
                    held.append(key)
                    return True
        return False

    wait_until(victim_holds_an_account, 90, "the first worker to hold an account")
    workers.procs[0].send_signal(signal.SIGKILL)
    killed_at = datetime.now(UTC)
    stdout, stderr = attached.communicate(timeout=180)
    assert attached.returncode == 0, stdout + stderr
    with ManifestStore(db) as store:
        batch_id = store.list_batches(1)[0].batch_id
        jobs = list(store.iter_jobs(batch_id))
        assert not any(entry.leased_by for entry in store.pool_entries(batch_id))
    assert [job.status for job in jobs] == [JobStatus.COMPLETED] * 12
    later = [a for job in jobs for a in job.attempts if a.started_at > killed_at]
    assert held[0] in {a.pool["account"] for a in later}, "the dead worker's account served again"
    record = sessions(site)
    assert all(record.overlaps[name] == 0 for name in names), record.overlaps
