"""Signals as a terminal and a crash deliver them: Ctrl-C goes to the whole foreground
process group (the CLI and whatever it started in that group), not to the CLI alone,
and must still let running rows finish; a CLI killed outright leaves no browser behind.

Each run is started in a session of its own, so its group stands for the terminal's."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import _fault_runner as runner
import psutil
import pytest

from batch.models import JobStatus
from batch.store import ManifestStore, default_store_path

pytestmark = pytest.mark.browser

ROWS = 6
CONCURRENCY = 2
ROW_MS = 4000
"""Long enough that the rows running at the signal are still mid-page when it arrives."""


def start_slow_batch(workdir: Path, site_url: str) -> subprocess.Popen[bytes]:
    (workdir / "rows.csv").write_text("n\n" + "".join(f"{n}\n" for n in range(ROWS)))
    (workdir / "flow.yaml").write_text(
        "name: slow\nsteps:\n"
        f'  - goto: "{{{{ base_url }}}}/slow?ms={ROW_MS}&n={{{{ row.n }}}}"\n'
        '  - expect_visible: "p.ok"\n'
    )
    return runner.start_batchwright(
        "run", "rows.csv", "--flow", "flow.yaml", "--base-url", site_url,
        "--concurrency", str(CONCURRENCY), "--progress", "lines",
        cwd=workdir, log=workdir / "run.log",
    )  # fmt: skip


def running_jobs(workdir: Path) -> tuple[str, list[int]]:
    """The batch and the row indexes it runs now (no batch yet: empty)."""
    store_path = default_store_path(workdir / "artifacts")
    if not store_path.is_file():
        return "", []
    with ManifestStore(store_path) as store:
        batches = store.list_batches()
        if not batches:
            return "", []
        batch_id = batches[0].batch_id
        return batch_id, [j.row_index for j in store.iter_jobs(batch_id, [JobStatus.RUNNING])]


def wait_for_running_rows(workdir: Path) -> tuple[str, list[int]]:
    """Wait until the batch runs CONCURRENCY rows, then a second more: their pages load."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        batch_id, running = running_jobs(workdir)
        if len(running) == CONCURRENCY:
            time.sleep(1.0)
            return batch_id, running
        time.sleep(0.05)
    log = (workdir / "run.log").read_text(errors="replace")
    raise AssertionError("the rows never started running:\n" + log)


def test_ctrl_c_to_the_process_group_lets_running_rows_finish(
    tmp_path: Path, site_url: str
) -> None:
    process = start_slow_batch(tmp_path, site_url)
    try:
        batch_id, running = wait_for_running_rows(tmp_path)
        os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            runner.kill_tree(process)
    output = (tmp_path / "run.log").read_text(errors="replace")
    assert process.returncode == 130, output
    assert "Future exception was never retrieved" not in output

    with ManifestStore(default_store_path(tmp_path / "artifacts")) as store:
        jobs = {job.row_index: job for job in store.iter_jobs(batch_id)}
    for index in running:
        job = jobs[index]
        assert job.status is JobStatus.COMPLETED, (index, job.status, job.error_message, output)
        assert [a.ok for a in job.attempts] == [True], (index, job.attempts)
    rest = {i: j.status for i, j in jobs.items() if i not in running}
    assert set(rest.values()) == {JobStatus.PENDING}, rest

    resumed = runner.batchwright(
        "resume", batch_id, "--base-url", site_url, "--concurrency", "3", "--quiet",
        cwd=tmp_path,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{ROWS}/{ROWS} completed" in resumed.stdout


def command_line(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # renderers come and go
        return ""


def still_running(process: psutil.Process) -> bool:
    """Exited but not yet reaped by whoever inherited it counts as gone."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_killed_cli_leaves_no_driver_or_browser_behind(tmp_path: Path, site_url: str) -> None:
    process = start_slow_batch(tmp_path, site_url)
    try:
        wait_for_running_rows(tmp_path)
        started = psutil.Process(process.pid).children(recursive=True)
        commands = [command_line(p) for p in started]
        assert any("run-driver" in c for c in commands), commands
        assert any("chrom" in c for c in commands), commands
        process.kill()  # SIGKILL to the CLI alone: nothing of it closes the browser
        process.wait(timeout=10)
        _, alive = psutil.wait_procs(started, timeout=15)
        alive = [p for p in alive if still_running(p)]
        assert not alive, f"still running 15 s after the CLI was killed: {alive}"
    finally:
        if process.poll() is None:
            runner.kill_tree(process)
