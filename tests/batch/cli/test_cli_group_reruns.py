"""``cancel``, ``resume`` and ``retry`` given a group id, as users run them: real
subprocesses, the real store, real Chromium against the local site."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from paths import EXAMPLES

from batch.engine import BatchEngine
from batch.models import BatchStatus, JobStatus
from batch.settings import load_settings
from batch.store import ManifestStore
from runtime.outcome import ErrorCategory
from runtime.run_context import RunContext
from runtime.runners.fake import ScriptedRunner, fail

from .test_cli import batchwright, cli_env


def write_slow_folder(workdir: Path, rows: int) -> None:
    folder = workdir / "slow"
    folder.mkdir()
    for name in ("east", "west"):
        lines = "".join(f"{name}{n}\n" for n in range(rows))
        (folder / f"{name}.csv").write_text("n\n" + lines, encoding="utf-8")
    (workdir / "slow.yaml").write_text(
        'name: slow\nsteps:\n  - goto: "{{ base_url }}/slow?ms=400&n={{ row.n }}"\n'
    )


def wait_for_running_group(workdir: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listing = batchwright("list", "--json", cwd=workdir)
        running = [b for b in json.loads(listing.stdout or "[]") if b["status"] == "running"]
        if running and running[0]["group_id"]:
            return str(running[0]["group_id"])
        time.sleep(0.3)
    raise AssertionError("the group never started running")


@pytest.mark.browser
def test_cancel_group_winds_it_down_and_resume_group_completes_the_rest(
    tmp_path: Path, site_url: str
) -> None:
    write_slow_folder(tmp_path, rows=8)
    process = subprocess.Popen(
        [
            sys.executable, "-m", "batch", "run", "slow", "--flow", "slow.yaml",
            "--base-url", site_url, "--concurrency", "1", "--progress", "lines",
        ],
        cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    group_id = wait_for_running_group(tmp_path)
    cancelled = batchwright("cancel", group_id, cwd=tmp_path)
    assert cancelled.returncode == 0, cancelled.stderr
    status = json.loads(batchwright("status", group_id, "--json", cwd=tmp_path).stdout)
    for batch in status["batches"]:
        assert f"cancel requested for {batch['batch_id']}" in cancelled.stdout
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stdout + stderr
    interrupted = json.loads(batchwright("status", group_id, "--json", cwd=tmp_path).stdout)
    assert interrupted["status"] == "interrupted"
    assert interrupted["counts"]["completed"] < 16

    resumed = batchwright("resume", group_id, "--base-url", site_url, "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"group {group_id}: 16/16 completed" in resumed.stdout
    index = tmp_path / "artifacts" / "groups" / group_id / "index.html"
    assert f"report: {index}" in resumed.stdout
    assert 'id="group-status">finished<' in index.read_text(encoding="utf-8")


async def failed_first_rows(workdir: Path) -> str:
    """A group of two files (two customers each) whose first rows failed (a scripted
    runner played them); its id."""
    folder = workdir / "exports"
    folder.mkdir()
    for name in ("a", "b"):
        rows = "".join(f"{name} {n},{name}{n}@example.com,pro,\n" for n in range(2))
        (folder / f"{name}.csv").write_text("name,email,plan,notes\n" + rows, encoding="utf-8")
    shutil.copy(EXAMPLES / "add_customer.yaml", workdir)
    config = {"base_dir": workdir, "artifacts_dir": workdir / "artifacts", "max_retries": 0}
    settings = load_settings(config, read_env=False)
    runner = ScriptedRunner({0: [fail(ErrorCategory.BUSINESS)]})
    with BatchEngine(RunContext(settings=settings), runner_factory=runner.bind) as engine:
        group = engine.create_batch_group("exports", "add_customer.yaml")
        summary = await engine.execute_group(group.group_id)
    assert (summary.count(JobStatus.FAILED), summary.count(JobStatus.COMPLETED)) == (2, 2)
    return group.group_id


@pytest.mark.browser
async def test_retry_group_re_runs_the_failed_rows_of_every_batch(
    tmp_path: Path, site_url: str, site: Any
) -> None:
    group_id = await failed_first_rows(tmp_path)
    retried = batchwright(
        "retry", group_id, "--base-url", site_url, "--progress", "none", cwd=tmp_path
    )
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert f"group {group_id}: 4/4 completed" in retried.stdout
    with site.state.lock:
        assert len(site.state.customers) == 2, "only the failed rows ran again"
    with ManifestStore(tmp_path / "artifacts" / "batchwright.db") as store:
        for batch_id in store.get_group(group_id).batch_ids:
            assert store.get_manifest(batch_id).status is BatchStatus.FINISHED


def test_cancel_of_an_unknown_id_names_it(tmp_path: Path) -> None:
    result = batchwright("cancel", "group-20260101-000000-abcdef", cwd=tmp_path)
    assert result.returncode == 2
    assert "group-20260101-000000-abcdef" in result.stderr
