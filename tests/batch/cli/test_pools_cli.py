"""Pools through the CLI as users run it: a refused pool CSV stops ``run`` before
anything runs (exit 2, the file named), and an engine killed with SIGKILL while its
rows hold accounts strands none: its leases end with its jobs' leases, and the
resumed batch completes without two sessions of one account at once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import _fault_runner as runner
import pytest
from pool_inputs import write_pool_batch
from site_routes import sessions
from workers_cluster import wait_until

from batch.models import JobStatus
from batch.store import ManifestStore, default_store_path

pytestmark = pytest.mark.browser

JOB_LEASE_S = 30.0
"""The in-process engine's job lease (``ExecutionOptions.lease_s``)."""


def test_run_stops_before_anything_runs_when_the_pool_csv_is_refused(
    tmp_path: Path, site_url: str
) -> None:
    data, flow, _ = write_pool_batch(tmp_path, rows=2, accounts=2)
    (tmp_path / "accounts.csv").write_bytes(b"\x7fELF\x02\x01\x01" + b"\x00" * 200)
    result = runner.batchwright(
        "run", str(data), "--flow", str(flow), "--base-url", site_url, cwd=tmp_path
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "accounts.csv" in output
    assert "pool 'account'" in output
    store = default_store_path(tmp_path / "artifacts")
    if store.exists():
        with ManifestStore(store) as opened:
            assert opened.list_batches() == [], "no batch was created"


def test_a_killed_engine_strands_no_account(tmp_path: Path, site: Any, site_url: str) -> None:
    data, flow, names = write_pool_batch(tmp_path, rows=9, accounts=3, hold_ms=1500)
    log = tmp_path / "run.log"
    process = runner.start_batchwright(
        "run", str(data), "--flow", str(flow), "--base-url", site_url,
        "--concurrency", "3", "--progress", "lines", cwd=tmp_path, log=log,
    )  # fmt: skip
    store_path = default_store_path(tmp_path / "artifacts")

    def all_leased() -> bool:
        if process.poll() is not None:
            raise AssertionError(log.read_text(errors="replace"))
        if not store_path.exists():
            return False
        with ManifestStore(store_path) as store:
            batches = store.list_batches()
            held = batches and store.pool_entries(batches[0].batch_id)
            return bool(held) and all(entry.leased_by for entry in held)

    wait_until(all_leased, 90, "every account to be leased")
    runner.kill_tree(process)
    killed_at = datetime.now(UTC)
    with ManifestStore(store_path) as store:
        (manifest,) = store.list_batches()
        batch_id = manifest.batch_id
        held = store.pool_entries(batch_id, now=killed_at)
        assert all(entry.leased_by for entry in held), "the dead engine's leases are still there"
        after_expiry = killed_at + timedelta(seconds=JOB_LEASE_S + 1)
        freed = store.pool_entries(batch_id, now=after_expiry)
        assert not any(entry.leased_by for entry in freed), "they end with the jobs' leases"
    record = sessions(site)
    wait_until(lambda: not any(record.active[name] for name in names), 10, "killed sessions")
    started = time.monotonic()
    resumed = runner.batchwright(
        "resume", batch_id, "--base-url", site_url, "--concurrency", "3", "--quiet", cwd=tmp_path
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert time.monotonic() - started < JOB_LEASE_S, "a dead engine on this host is not waited for"
    with ManifestStore(store_path) as store:
        statuses = [job.status for job in store.iter_jobs(batch_id)]
        assert not any(entry.leased_by for entry in store.pool_entries(batch_id))
    assert statuses == [JobStatus.COMPLETED] * 9
    assert all(record.overlaps[name] == 0 for name in names), record.overlaps


def test_preview_renders_a_pool_flow_with_its_first_entry(tmp_path: Path) -> None:
    data, flow, names = write_pool_batch(tmp_path, rows=2, accounts=2)
    text = flow.read_text(encoding="utf-8").replace(
        "/login?hold_ms",
        "/login?user={{ pool.account.username }}&pw={{ pool.account.password }}&hold_ms",
    )
    flow.write_text(text, encoding="utf-8")
    result = runner.batchwright(
        "preview", str(data), "--flow", str(flow), "--base-url", "http://127.0.0.1:9", cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"user={names[0]}" in result.stdout
    assert "pw=***" in result.stdout
    assert "-secret" not in result.stdout, "a pool secret: masked in the preview"
