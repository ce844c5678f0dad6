"""Adaptive concurrency: the AIMD rule on synthetic samples, the limiter's gate, and
one real batch (SQLite, Chromium, the local site) run under it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psutil
import pytest
from paths import REPO

from batch.ingest.creation import create_batch
from batch.models import BatchStatus, JobStatus
from batch.run.concurrency import (
    AdaptiveLimiter,
    Sample,
    Thresholds,
    auto_bounds,
    decide,
    sample_machine,
)
from batch.run.execution import BatchExecution, ExecutionOptions
from batch.run.retry import RetryPolicy
from batch.store import ManifestStore
from runtime.browser import BrowserManager
from runtime.flows.model import load_flow
from runtime.runners.base import CommitRecorder
from runtime.runners.local import LocalJobRunner

CALM = Sample(cpu_percent=30.0, available_mb=4000.0, tree_rss_mb=800.0, loop_lag_s=0.001)
LIMITS = Thresholds(max_tree_mb=2000.0)


def test_grows_by_one_with_headroom_up_to_the_maximum() -> None:
    assert decide(4, CALM, 1, 8, LIMITS) == 5
    assert decide(8, CALM, 1, 8, LIMITS) == 8


@pytest.mark.parametrize(
    "trouble",
    [
        {"loop_lag_s": 0.5},
        {"available_mb": 100.0},
        {"tree_rss_mb": 2500.0},
    ],
)
def test_shrinks_by_a_quarter_when_something_hurts(trouble: dict[str, float]) -> None:
    sample = Sample(**(CALM.__dict__ | trouble))
    assert decide(8, sample, 1, 16, LIMITS) == 6
    assert decide(2, sample, 1, 16, LIMITS) == 1  # always at least one less...
    assert decide(1, sample, 1, 16, LIMITS) == 1  # ...but never below the minimum


def test_a_busy_cpu_only_stops_growth() -> None:
    busy = Sample(**(CALM.__dict__ | {"cpu_percent": 99.0}))
    assert decide(4, busy, 1, 8, LIMITS) == 4


def test_no_growth_when_one_more_job_would_break_the_memory_budget() -> None:
    near = Sample(**(CALM.__dict__ | {"tree_rss_mb": 1900.0}))  # 475 MB per job at 4
    assert decide(4, near, 1, 8, LIMITS) == 4
    tight = Sample(**(CALM.__dict__ | {"available_mb": 700.0}))  # 300 + 2 * 200 needed
    assert decide(4, tight, 1, 8, LIMITS) == 4


def test_auto_bounds_start_at_the_core_count() -> None:
    assert auto_bounds(2) == (1, 2, 8)
    assert auto_bounds(1) == (1, 2, 4)
    assert auto_bounds(32) == (1, 32, 64)


def test_sample_machine_sees_this_process() -> None:
    sample = sample_machine(psutil.Process(), 0.01)
    assert sample.tree_rss_mb > 10
    assert sample.available_mb > 0
    assert sample.loop_lag_s == 0.01


async def test_slots_follow_the_limit() -> None:
    limiter = AdaptiveLimiter(minimum=1, maximum=4, start=2, sampler=lambda _lag: CALM)
    running = 0
    peak = 0
    release = asyncio.Event()

    async def job() -> None:
        nonlocal running, peak
        async with limiter.slot():
            running += 1
            peak = max(peak, running)
            await release.wait()
            running -= 1

    tasks = [asyncio.create_task(job()) for _ in range(4)]
    await asyncio.sleep(0)
    assert (running, limiter.limit) == (2, 2)
    assert await limiter.apply(CALM) == 3  # headroom: one more may start
    await asyncio.sleep(0)
    assert running == 3
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 3
    assert [limit for _, limit in limiter.history] == [2, 3]


@pytest.mark.browser
async def test_a_real_batch_runs_under_the_adaptive_limiter(
    make_settings: Any, site_url: str, tmp_path: Path
) -> None:
    settings = make_settings(base_url=site_url, concurrency="auto", step_timeout_s=5.0)
    csv = tmp_path / "rows.csv"
    csv.write_text(
        "name,email,plan,notes\n" + "".join(f"P{n},p{n}@example.com,pro,\n" for n in range(8)),
        encoding="utf-8",
    )
    flow = load_flow(REPO / "examples" / "add_customer.yaml")
    minimum, start, maximum = auto_bounds()
    with ManifestStore.for_settings(settings) as store:
        manifest = create_batch(csv, flow, settings, store, run_id="run")
        async with (
            BrowserManager(settings) as browser,
            AdaptiveLimiter(
                minimum=minimum, maximum=maximum, start=start, interval_s=0.2
            ) as limiter,
        ):

            def runner(recorder: CommitRecorder) -> LocalJobRunner:
                return LocalJobRunner(flow, settings, browser, tmp_path / "b", recorder=recorder)

            execution = BatchExecution(
                store,
                manifest.batch_id,
                runner,
                RetryPolicy.from_settings(settings),
                ExecutionOptions(concurrency=maximum, limiter=limiter),
            )
            status = await execution.run()
        counts = store.count_by_status(manifest.batch_id)
    assert status is BatchStatus.FINISHED
    assert counts == {JobStatus.COMPLETED: 8}
    assert minimum <= limiter.limit <= maximum
    assert limiter.last_sample is not None  # the sampler ran during the batch
    assert limiter.last_sample.tree_rss_mb > 50  # Chromium's processes are counted
