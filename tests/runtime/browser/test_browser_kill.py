"""SIGKILL Chromium in the middle of a batch: the rows it was running fail as transient,
are retried on a relaunched browser, and the batch still completes every row."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

import _fault_runner as runner
import psutil
import pytest

from batch.engine import BatchEngine
from batch.models import BatchStatus, JobStatus, ProgressEvent
from runtime.outcome import ErrorCategory

pytestmark = pytest.mark.browser

ROWS = 12
KILL_AFTER = 3
JOB_TIMEOUT_S = 10
DEADLINE_S = 45
"""A healthy run takes under 10 s; a row stuck on the dead browser must be ended by the
job watchdog (JOB_TIMEOUT_S) and retried, well within this."""


async def test_killed_browser_is_relaunched_and_in_flight_rows_are_retried(
    make_engine: Callable[..., BatchEngine],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:
    (tmp_path / "rows.csv").write_text("n\n" + "".join(f"{n}\n" for n in range(ROWS)))
    (tmp_path / "flow.yaml").write_text(
        f"name: slow-pages\ntimeout: {JOB_TIMEOUT_S}\nsteps:\n"
        '  - goto: "{{ base_url }}/slow?ms=300&n={{ row.n }}"\n'
        '  - expect_visible: "p.ok"\n'
    )
    engine = make_engine(concurrency=3, max_retries=2)
    killed: list[psutil.Process] = []

    def kill_chromium_after_three_rows(event: ProgressEvent) -> None:
        if event.done >= KILL_AFTER and not killed:
            killed.extend(runner.chromium_processes())
            for process in killed:
                # killing the browser ends its children too: some may be gone already
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()

    caplog.set_level(logging.INFO, logger="batchwright.browser")
    try:
        summary = await asyncio.wait_for(
            engine.start_batch(
                tmp_path / "rows.csv", tmp_path / "flow.yaml", kill_chromium_after_three_rows
            ),
            timeout=DEADLINE_S,
        )
    except TimeoutError:
        pytest.fail(
            f"the batch did not finish within {DEADLINE_S} s after Chromium was killed: a job "
            "is stuck in a Playwright call the job watchdog does not cover"
        )

    assert killed, "no Chromium process was found to kill"
    _, survivors = psutil.wait_procs(killed, timeout=10)
    assert not survivors
    jobs = list(engine.store.iter_jobs(summary.batch_id))
    assert [j.status for j in jobs] == [JobStatus.COMPLETED] * ROWS
    assert engine.store.get_manifest(summary.batch_id).status is BatchStatus.FINISHED
    crashed = [a for j in jobs for a in j.attempts if not a.ok]
    assert crashed, "the rows in flight at the kill should have failed an attempt"
    assert all(a.category is ErrorCategory.TRANSIENT for a in crashed), crashed
    launches = [r for r in caplog.records if r.getMessage().startswith("launched browser")]
    assert len(launches) >= 2, "the browser was not relaunched after the kill"
    runner.report_line(
        request,
        f"browser kill: {len(killed)} Chromium processes killed after {KILL_AFTER} rows; "
        f"{len(crashed)} attempts failed as transient; {len(launches)} launches; "
        f"{summary.counts['completed']}/{ROWS} completed",
    )
