"""Resource pools end to end on the in-process engine: real Chromium logging in to the
local site, which records overlapping sessions per account. Rows never share an
account at once, wait when none is free, and an unusable account leaves the pool."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pool_inputs import write_pool_batch
from site_routes import sessions

from batch.engine import BatchEngine
from batch.exceptions import FileProcessingError, SecurityError
from batch.models import JobStatus

pytestmark = pytest.mark.browser


async def test_twenty_rows_share_three_accounts_without_overlap(
    make_engine: Callable[..., BatchEngine], site: Any, tmp_path: Path
) -> None:
    data, flow, names = write_pool_batch(tmp_path, rows=20, accounts=3)
    engine = make_engine(concurrency=5, trace="always")
    summary = await engine.start_batch(data, flow)
    jobs = list(engine.store.iter_jobs(summary.batch_id))
    assert [job.status for job in jobs] == [JobStatus.COMPLETED] * 20
    record = sessions(site)
    assert sum(record.logins[name] for name in names) == 20
    assert all(record.overlaps[name] == 0 for name in names), record.overlaps
    used = [job.attempts[-1].pool["account"] for job in jobs]
    assert set(used) <= set(names)
    assert len(set(used)) == 3, "all three accounts served"
    waits = [a.pool_wait_s for job in jobs for a in job.attempts]
    waited = sum(w > 0 for w in waits)
    assert 0 < waited < 20, "five workers, three accounts: some rows waited, not all"
    batch_dir = engine.batch_dir(summary.batch_id)
    report = json.loads((batch_dir / "summary.json").read_text(encoding="utf-8"))
    pools = report["pools"]
    assert sum(pools["attempts_by_entry"]["account"].values()) == 20
    assert pools["attempts_waited"] == waited
    assert pools["unusable"] == []
    with (batch_dir / "results.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["pool_entry"] for row in rows] == [f"account={name}" for name in used]
    # the passwords are pool secrets: masked everywhere, and the flow is never traced
    for name in ("report.html", "junit.xml", "results.csv", "summary.json", "summary.md"):
        text = (batch_dir / name).read_text(encoding="utf-8-sig")
        assert "-secret" not in text, name
    assert not any(a["kind"] == "trace" for job in jobs for a in job.artifacts)


async def test_an_unusable_account_is_never_leased_again(
    make_engine: Callable[..., BatchEngine], site: Any, tmp_path: Path
) -> None:
    data, flow, names = write_pool_batch(tmp_path, rows=8, accounts=3, locked=1)
    engine = make_engine(concurrency=2, max_retries=0)
    summary = await engine.start_batch(data, flow)
    jobs = list(engine.store.iter_jobs(summary.batch_id))
    locked = names[0]
    assert sessions(site).refused[locked] == 1, "the locked account was tried once only"
    failed = [job for job in jobs if job.status is JobStatus.FAILED]
    assert len(failed) == 1
    assert failed[0].attempts[-1].pool == {"account": locked}
    assert failed[0].attempts[-1].pool_unusable == ["account"]
    assert sum(job.status is JobStatus.COMPLETED for job in jobs) == 7
    entries = {e.key: e for e in engine.store.pool_entries(summary.batch_id)}
    assert entries[locked].unusable
    assert "Welcome" in entries[locked].unusable_reason  # the failed expectation's message
    report = json.loads(
        (engine.batch_dir(summary.batch_id) / "summary.json").read_text(encoding="utf-8")
    )
    (unusable,) = report["pools"]["unusable"]
    assert (unusable["pool"], unusable["key"], unusable["row"]) == (
        "account",
        locked,
        failed[0].row_index + 1,
    )
    markdown = (engine.batch_dir(summary.batch_id) / "summary.md").read_text(encoding="utf-8")
    assert "marked unusable" in markdown


async def test_rows_fail_clearly_once_every_account_is_unusable(
    make_engine: Callable[..., BatchEngine], site: Any, tmp_path: Path
) -> None:
    data, flow, names = write_pool_batch(tmp_path, rows=4, accounts=1, locked=1)
    engine = make_engine(concurrency=1, max_retries=0)
    summary = await engine.start_batch(data, flow)
    jobs = list(engine.store.iter_jobs(summary.batch_id))
    assert [job.status for job in jobs] == [JobStatus.FAILED] * 4
    assert sessions(site).refused[names[0]] == 1
    assert all("no usable entry left" in job.error_message for job in jobs[1:])


async def test_python_flows_see_ctx_pool_and_mark_entries(
    make_engine: Callable[..., BatchEngine], site: Any, site_url: str, tmp_path: Path
) -> None:
    data, flow, names = write_pool_batch(tmp_path, rows=3, accounts=2, locked=1)
    (tmp_path / "login.py").write_text(
        "async def run(page, row, ctx):\n"
        "    account = ctx.pool['account']\n"
        "    await page.goto(f'{ctx.base_url}/login?hold_ms=50')\n"
        "    await page.fill('#username', account['username'])\n"
        "    await page.fill('#password', account['password'])\n"
        "    await page.get_by_role('button', name='Log in').click()\n"
        "    if await page.locator('.error').count():\n"
        "        ctx.pool_failed('account')\n"
        "        ctx.fail(f\"{account['username']} refused ({account['password']})\")\n"
        "    return {'user': account['username']}\n",
        encoding="utf-8",
    )
    text = flow.read_text(encoding="utf-8").split("steps:")[0] + "python: login.py\n"
    flow.write_text(text, encoding="utf-8")
    engine = make_engine(concurrency=1, max_retries=0)
    summary = await engine.start_batch(data, flow)
    jobs = list(engine.store.iter_jobs(summary.batch_id))
    assert [job.status for job in jobs].count(JobStatus.COMPLETED) == 2
    (failed,) = [job for job in jobs if job.status is JobStatus.FAILED]
    assert failed.error_message == f"{names[0]} refused (***)"  # a pool secret: masked
    assert {job.extracted.get("user") for job in jobs if job.extracted} == {names[1]}
    assert sessions(site).refused[names[0]] == 1


@pytest.mark.parametrize(
    ("accounts", "error", "match"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, SecurityError, r"pool 'account'.*accounts\.csv"),
        (b"name,password\nann,x\n", FileProcessingError, r"accounts\.csv.*'key' 'username'"),
        (b"username,password\nann,x\nann,y\n", FileProcessingError, r"accounts\.csv, line 3"),
        (b"username,password\n", FileProcessingError, r"pool 'account' has no entries"),
    ],
)
def test_a_pool_csv_refused_by_ingestion_stops_the_batch_before_anything_runs(
    make_engine: Callable[..., BatchEngine],
    tmp_path: Path,
    accounts: bytes,
    error: type[Exception],
    match: str,
) -> None:
    data, flow, _ = write_pool_batch(tmp_path, rows=2, accounts=1)
    (tmp_path / "accounts.csv").write_bytes(accounts)
    engine = make_engine()
    with pytest.raises(error, match=match):
        engine.create_batch_jobs(data, flow)
    assert engine.list_batches() == [], "nothing stored, nothing to run"


@pytest.mark.parametrize(
    ("path", "match"),
    [
        ("/etc/passwd", r"pool 'account': refused CSV path '/etc/passwd'.*sensitive location"),
        ("../outside.csv", r"pool 'account': refused CSV path .*outside the base directory"),
    ],
)
def test_a_pool_file_past_the_path_guard_is_refused(
    make_engine: Callable[..., BatchEngine], tmp_path: Path, path: str, match: str
) -> None:
    data, flow, _ = write_pool_batch(tmp_path, rows=2, accounts=1)
    (tmp_path.parent / "outside.csv").write_text("username\nann\n", encoding="utf-8")
    text = flow.read_text(encoding="utf-8").replace("file: accounts.csv", f"file: {path}")
    flow.write_text(text, encoding="utf-8")
    engine = make_engine()
    with pytest.raises(SecurityError, match=match):
        engine.create_batch_jobs(data, flow)
    assert engine.list_batches() == []


async def test_no_lease_outlives_the_batch(
    make_engine: Callable[..., BatchEngine], site: Any, tmp_path: Path
) -> None:
    """Every attempt gives its entry back (a killed engine's leases expire instead: see
    tests/batch/cli/test_pools_cli.py and, with the clock injected, the store's tests)."""
    data, flow, _ = write_pool_batch(tmp_path, rows=3, accounts=2)
    engine = make_engine(concurrency=2)
    summary = await engine.start_batch(data, flow)
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert all(e.leased_by is None for e in engine.store.pool_entries(summary.batch_id, now=later))
