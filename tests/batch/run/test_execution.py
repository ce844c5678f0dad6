"""Execution policy through the seam, without a browser: ``ScriptedRunner`` plays the
attempts' outcomes, a real SQLite store records them. Retries and backoff, the
circuit breaker, stop / abort / cancel, commit marks, concurrency, and what every
spec carries. The real path (Chromium, the local site) is in tests/batch/test_engine.py
and test_safety.py."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from batch.engine import BatchEngine
from batch.exceptions import ConfigurationError
from batch.ingest.creation import create_batch
from batch.models import BatchStatus, JobStatus
from batch.run.execution import BatchExecution, ExecutionOptions
from batch.run.retry import RetryPolicy
from batch.store import ManifestStore
from runtime.flows.model import load_flow
from runtime.outcome import ErrorCategory
from runtime.run_context import RunContext
from runtime.runners.base import attempt_settings
from runtime.runners.fake import ScriptedRunner, by_column, fail, hang, ok

TRANSIENT, BUSINESS = ErrorCategory.TRANSIENT, ErrorCategory.BUSINESS


def write_batch_files(tmp_path: Path, rows: int, *, idempotent: bool = True) -> tuple[Path, Path]:
    """A CSV of ``rows`` rows (column ``n``) and a flow with a commit step."""
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("n\n" + "".join(f"{n}\n" for n in range(rows)), encoding="utf-8")
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        f"name: scripted\nidempotent: {str(idempotent).lower()}\nsteps:\n"
        '  - goto: "http://app.test/{{ row.n }}"\n  - click: "#save"\n    commit: true\n',
        encoding="utf-8",
    )
    return csv_path, flow


class Sleeps(list[float]):
    """The injected sleep: records each wait instead of waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_engine(make_settings: Any, sleeps: Sleeps) -> Iterator[Callable[..., BatchEngine]]:
    """Engines on tmp_path's store whose attempts ``runner`` plays; waits recorded."""
    engines: list[BatchEngine] = []

    def make(runner: ScriptedRunner, **overrides: Any) -> BatchEngine:
        settings = make_settings(**({"concurrency": 1, "retry_delay": 1.0} | overrides))
        engine = BatchEngine(
            RunContext(settings=settings), sleep=sleeps, runner_factory=runner.bind
        )
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


@pytest.fixture
def store(settings: Any) -> Iterator[ManifestStore]:
    with ManifestStore.for_settings(settings) as opened:
        yield opened


def new_batch(store: ManifestStore, settings: Any, tmp_path: Path, rows: int, **flow: Any) -> str:
    csv_path, flow_path = write_batch_files(tmp_path, rows, **flow)
    return create_batch(csv_path, load_flow(flow_path), settings, store, run_id="r").batch_id


def execution(
    store: ManifestStore, batch_id: str, runner: ScriptedRunner, **options: Any
) -> BatchExecution:
    defaults: dict[str, Any] = {"concurrency": 2, "poll_interval_s": 0.02}
    return BatchExecution(
        store,
        batch_id,
        runner.bind,
        RetryPolicy(max_retries=2, jitter=0.0),
        ExecutionOptions(**(defaults | options)),
        sleep=Sleeps(),
    )


def statuses(store: ManifestStore, batch_id: str) -> dict[str, JobStatus]:
    return {job.row_data["n"]: job.status for job in store.iter_jobs(batch_id)}


# --- what a spec carries --------------------------------------------------------------


async def test_specs_carry_the_flow_hash_and_one_shared_settings_mapping(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    runner = ScriptedRunner()
    engine = make_engine(runner, isolation="recycled", trace="always")
    csv_path, flow = write_batch_files(tmp_path, 3)
    manifest = engine.create_batch_jobs(csv_path, flow)
    await engine.execute_batch_jobs(manifest.batch_id)

    recorded = manifest.settings["flow_hash"]
    assert recorded == load_flow(flow).content_hash
    assert recorded.startswith("sha256:")
    assert [spec.flow_hash for spec in runner.specs] == [recorded] * 3
    assert runner.specs[0].settings == attempt_settings(engine.settings)
    assert runner.specs[0].settings["isolation"] == "recycled"
    assert len({id(spec.settings) for spec in runner.specs}) == 1, "built once per batch"


async def test_a_flow_edited_since_the_batch_was_created_is_refused_before_any_job_runs(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    runner = ScriptedRunner()
    engine = make_engine(runner)
    csv_path, flow = write_batch_files(tmp_path, 2)
    manifest = engine.create_batch_jobs(csv_path, flow)
    flow.write_text(flow.read_text(encoding="utf-8").replace("#save", "#submit"), "utf-8")

    fresh = make_engine(runner)  # another process: loads the flow from its file
    with pytest.raises(ConfigurationError, match=r"flow .*flow.yaml changed since batch"):
        await fresh.execute_batch_jobs(manifest.batch_id)
    assert runner.specs == []
    assert set(statuses(fresh.store, manifest.batch_id).values()) == {JobStatus.PENDING}


# --- retries --------------------------------------------------------------------------


async def test_transient_failures_are_retried_with_exponential_backoff(
    make_engine: Callable[..., BatchEngine], tmp_path: Path, sleeps: Sleeps
) -> None:
    runner = ScriptedRunner({0: [fail(TRANSIENT, "503"), fail(TRANSIENT, "503"), ok()]})
    engine = make_engine(runner, max_retries=3, retry_delay=1.0, backoff_factor=3.0)
    summary = await engine.start_batch(*write_batch_files(tmp_path, 2))

    jobs = {job.row_index: job for job in engine.store.iter_jobs(summary.batch_id)}
    assert jobs[0].status is JobStatus.COMPLETED
    assert jobs[0].flaky
    assert [(a.number, a.ok, a.category) for a in jobs[0].attempts] == [
        (1, False, TRANSIENT),
        (2, False, TRANSIENT),
        (3, True, None),
    ]
    assert [spec.attempt for spec in runner.attempts(0)] == [1, 2, 3]
    assert sleeps == [1.0, 3.0]
    assert summary.flaky == 1


async def test_retry_after_is_honoured_and_rate_limits_back_off_twice_as_long(
    make_engine: Callable[..., BatchEngine], tmp_path: Path, sleeps: Sleeps
) -> None:
    limited = ErrorCategory.RATE_LIMIT
    runner = ScriptedRunner({0: [fail(limited, retry_after_s=7.0), ok()], 1: [fail(limited), ok()]})
    engine = make_engine(runner, retry_delay=1.5, max_delay=30)
    summary = await engine.start_batch(*write_batch_files(tmp_path, 2))
    assert summary.counts["completed"] == 2
    assert sleeps == [7.0, 3.0]


async def test_retries_stop_at_max_retries_and_business_failures_are_never_retried(
    make_engine: Callable[..., BatchEngine], tmp_path: Path, sleeps: Sleeps
) -> None:
    runner = ScriptedRunner({0: [fail(TRANSIENT, "down")], 1: [fail(BUSINESS, "rejected")]})
    engine = make_engine(runner, max_retries=2)
    summary = await engine.start_batch(*write_batch_files(tmp_path, 2))

    jobs = {job.row_index: job for job in engine.store.iter_jobs(summary.batch_id)}
    assert [a.number for a in jobs[0].attempts] == [1, 2, 3]
    assert (jobs[0].status, jobs[0].error_category) == (JobStatus.FAILED, TRANSIENT)
    assert [a.number for a in jobs[1].attempts] == [1]
    assert (jobs[1].status, jobs[1].error_message) == (JobStatus.FAILED, "rejected")
    assert len(sleeps) == 2, "only the transient row waited"


async def test_retry_reruns_only_the_failed_rows_numbering_on(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    runner = ScriptedRunner({"1": [fail(BUSINESS), ok()]}, key=by_column("n"))
    engine = make_engine(runner, max_retries=0)
    summary = await engine.start_batch(*write_batch_files(tmp_path, 3))
    assert summary.counts["failed"] == 1

    summary = await engine.retry_batch_jobs(summary.batch_id)
    assert summary.counts["completed"] == 3
    assert [spec.attempt for spec in runner.attempts("1")] == [1, 2]
    assert len(runner.attempts("0")) == 1, "completed rows stay done"


# --- circuit breaker ------------------------------------------------------------------


async def test_circuit_breaker_stops_the_batch_and_resume_finishes_it(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    down = ScriptedRunner(default=[fail(TRANSIENT, "HTTP 503")])
    engine = make_engine(down, circuit_breaker=3, max_retries=0)
    summary = await engine.start_batch(*write_batch_files(tmp_path, 12))
    manifest = engine.store.get_manifest(summary.batch_id)
    assert manifest.status is BatchStatus.INTERRUPTED
    assert len(down.specs) == 3, "no job starts once the breaker opened"
    assert manifest.failed == 2, "failures before the breaker opened stay failed"
    assert manifest.count(JobStatus.PENDING) == 10, "the rest wait for resume"
    reopened = engine.store.get_job(down.specs[-1].job_id)
    assert reopened.error_message == ""  # back to pending, its attempt kept
    assert [a.message for a in reopened.attempts] == ["HTTP 503"]

    engine.runner_factory = ScriptedRunner().bind  # the target is back
    await engine.resume_batch(summary.batch_id)
    manifest = engine.store.get_manifest(summary.batch_id)
    assert (manifest.status, manifest.completed, manifest.failed) == (
        BatchStatus.FINISHED,
        10,
        2,
    )


async def test_a_success_between_transient_failures_resets_the_breaker(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    wobbly = [fail(TRANSIENT), ok()]  # two attempts, one transient failure each
    runner = ScriptedRunner({0: wobbly, 1: wobbly, 2: wobbly})
    engine = make_engine(runner, circuit_breaker=2, max_retries=1)
    summary = await engine.start_batch(*write_batch_files(tmp_path, 3))
    assert engine.store.get_manifest(summary.batch_id).status is BatchStatus.FINISHED
    assert summary.counts["completed"] == 3


# --- stop, abort, cancel --------------------------------------------------------------


async def test_stop_lets_running_jobs_finish_and_starts_no_more(
    store: ManifestStore, settings: Any, tmp_path: Path
) -> None:
    batch_id = new_batch(store, settings, tmp_path, 6)
    runner = ScriptedRunner(default=[ok(delay_s=0.1)])
    run = execution(store, batch_id, runner)
    task = asyncio.create_task(run.run())
    await asyncio.wait_for(runner.wait_for(lambda: runner.running == 2), 5)
    run.stop()
    assert await task is BatchStatus.INTERRUPTED
    counts = store.count_by_status(batch_id)
    assert counts == {JobStatus.COMPLETED: 2, JobStatus.PENDING: 4}
    assert len(runner.specs) == 2


async def test_abort_cancels_hung_jobs_and_resume_runs_them(
    store: ManifestStore, settings: Any, tmp_path: Path
) -> None:
    batch_id = new_batch(store, settings, tmp_path, 5)
    hung = ScriptedRunner(default=[hang()])
    run = execution(store, batch_id, hung)
    task = asyncio.create_task(run.run())
    await asyncio.wait_for(hung.wait_for(lambda: hung.running == 2), 5)
    run.abort()
    assert await asyncio.wait_for(task, 5) is BatchStatus.INTERRUPTED
    assert store.count_by_status(batch_id) == {JobStatus.CANCELLED: 2, JobStatus.PENDING: 3}

    store.requeue(batch_id, [JobStatus.CANCELLED])  # what resume_batch does first
    fine = ScriptedRunner()
    assert await execution(store, batch_id, fine).run() is BatchStatus.FINISHED
    assert store.count_by_status(batch_id) == {JobStatus.COMPLETED: 5}
    assert sorted(spec.job_id for spec in fine.specs) == sorted(store.job_ids(batch_id))


async def test_cancel_requested_from_another_process_winds_down(
    store: ManifestStore, settings: Any, tmp_path: Path
) -> None:
    batch_id = new_batch(store, settings, tmp_path, 10)
    runner = ScriptedRunner(default=[ok(delay_s=0.05)])
    run = execution(store, batch_id, runner, concurrency=1)
    task = asyncio.create_task(run.run())
    await asyncio.wait_for(runner.wait_for(lambda: len(runner.specs) == 2), 5)
    with ManifestStore.for_settings(settings) as elsewhere:
        elsewhere.request_cancel(batch_id)
    assert await asyncio.wait_for(task, 5) is BatchStatus.INTERRUPTED

    counts = store.count_by_status(batch_id)
    assert counts[JobStatus.CANCELLED] > 0
    assert counts[JobStatus.COMPLETED] + counts[JobStatus.CANCELLED] == 10
    assert counts[JobStatus.COMPLETED] == len(runner.specs), "what started, finished"
    assert not store.cancel_requested(batch_id), "the request is consumed"


# --- commit marks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("idempotent", "expected"), [(False, JobStatus.NEEDS_REVIEW), (True, JobStatus.CANCELLED)]
)
async def test_a_job_aborted_after_its_commit_mark_needs_review_unless_idempotent(
    store: ManifestStore, settings: Any, tmp_path: Path, idempotent: bool, expected: JobStatus
) -> None:
    batch_id = new_batch(store, settings, tmp_path, 1, idempotent=idempotent)
    runner = ScriptedRunner(default=[hang(commits=True)])
    run = execution(store, batch_id, runner, idempotent=idempotent)
    task = asyncio.create_task(run.run())
    await asyncio.wait_for(runner.wait_for(lambda: runner.running == 1), 5)
    (job_id,) = store.job_ids(batch_id)
    assert store.get_job(job_id).reached_commit is not idempotent, "durable before it acts"
    run.abort()
    await asyncio.wait_for(task, 5)
    assert store.get_job(job_id).status is expected


@pytest.mark.parametrize(
    ("step", "idempotent", "expected", "attempts"),
    [
        (fail(TRANSIENT, commits=True), False, JobStatus.NEEDS_REVIEW, 1),
        (fail(ErrorCategory.UNKNOWN, commits=True), False, JobStatus.NEEDS_REVIEW, 1),
        (fail(BUSINESS, commits=True), False, JobStatus.FAILED, 1),  # the app said no
        (fail(TRANSIENT, commits=True), True, JobStatus.FAILED, 3),  # safe to repeat
    ],
)
async def test_a_failure_after_an_unsafe_commit_mark_is_never_retried(
    store: ManifestStore,
    settings: Any,
    tmp_path: Path,
    *,
    step: Any,
    idempotent: bool,
    expected: JobStatus,
    attempts: int,
) -> None:
    batch_id = new_batch(store, settings, tmp_path, 1, idempotent=idempotent)
    runner = ScriptedRunner(default=[step])
    await execution(store, batch_id, runner, idempotent=idempotent).run()
    (job,) = store.iter_jobs(batch_id)
    assert job.status is expected
    assert len(runner.specs) == len(job.attempts) == attempts
    if expected is JobStatus.NEEDS_REVIEW:
        assert job.error_message.startswith("failed after its commit step, outcome unknown")


async def test_an_open_breaker_does_not_requeue_a_row_past_an_unsafe_commit_mark(
    store: ManifestStore, settings: Any, tmp_path: Path
) -> None:
    batch_id = new_batch(store, settings, tmp_path, 2, idempotent=False)
    runner = ScriptedRunner({0: [fail(TRANSIENT, commits=True)]})
    run = execution(store, batch_id, runner, idempotent=False, circuit_breaker=1, concurrency=1)
    assert await run.run() is BatchStatus.INTERRUPTED
    assert statuses(store, batch_id) == {"0": JobStatus.NEEDS_REVIEW, "1": JobStatus.PENDING}
    assert len(runner.specs) == 1


async def test_a_row_interrupted_past_its_commit_is_never_rerun_until_reviewed(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    runner = ScriptedRunner()
    engine = make_engine(runner)
    manifest = engine.create_batch_jobs(*write_batch_files(tmp_path, 2, idempotent=False))
    unknown = left_by_a_dead_engine(engine.store, manifest.batch_id, committed=True)

    summary = await engine.execute_batch_jobs(manifest.batch_id)
    assert engine.store.get_job(unknown).status is JobStatus.NEEDS_REVIEW
    assert [spec.row_index for spec in runner.specs] == [1]
    assert summary.has_failures, "unknown outcomes are not a success"
    assert [job.job_id for job in engine.jobs_needing_review(manifest.batch_id)] == [unknown]

    assert engine.settle_review(manifest.batch_id, JobStatus.PENDING) == 1
    await engine.resume_batch(manifest.batch_id)
    assert engine.store.get_job(unknown).status is JobStatus.COMPLETED
    assert [spec.row_index for spec in runner.specs] == [1, 0]


async def test_a_row_interrupted_before_its_commit_is_simply_rerun(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    runner = ScriptedRunner()
    engine = make_engine(runner)
    manifest = engine.create_batch_jobs(*write_batch_files(tmp_path, 1, idempotent=False))
    job_id = left_by_a_dead_engine(engine.store, manifest.batch_id, committed=False)
    await engine.execute_batch_jobs(manifest.batch_id)
    assert engine.store.get_job(job_id).status is JobStatus.COMPLETED
    assert [spec.job_id for spec in runner.specs] == [job_id]


def left_by_a_dead_engine(store: ManifestStore, batch_id: str, *, committed: bool) -> str:
    """What a crash leaves: row 0 running, owned by an engine whose process is gone."""
    job_id = store.job_ids(batch_id)[0]
    token = store.claim_job(job_id, f"{os.uname().nodename}:999999999:dead", lease_s=3600)
    assert token is not None
    if committed:
        store.mark_reached_commit(job_id, token)
    return job_id


# --- concurrency and pacing -----------------------------------------------------------


async def test_concurrency_reaches_but_never_exceeds_the_limit(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    runner = ScriptedRunner(default=[ok(delay_s=0.02)])
    engine = make_engine(runner, concurrency=3)
    summary = await engine.start_batch(*write_batch_files(tmp_path, 15))
    assert summary.counts["completed"] == 15
    assert runner.peak == 3


async def test_rate_and_delay_space_out_the_jobs(
    make_engine: Callable[..., BatchEngine], tmp_path: Path, sleeps: Sleeps
) -> None:
    engine = make_engine(ScriptedRunner(), rate="1/s", delay_s=0.25)
    summary = await engine.start_batch(*write_batch_files(tmp_path, 3))
    assert summary.counts["completed"] == 3
    assert sleeps.count(0.25) == 3, "each worker pauses after each job"
    assert [s for s in sleeps if s != 0.25], "the token bucket made later starts wait"


class ExplodingRunner:
    """A runner with a bug: it raises instead of returning an outcome."""

    async def run(self, _spec: object) -> object:
        raise RuntimeError("bug in a runner")


async def test_a_crashing_worker_surfaces_and_leaves_its_row_resumable(
    store: ManifestStore, settings: Any, tmp_path: Path
) -> None:
    batch_id = new_batch(store, settings, tmp_path, 1)
    crashing = BatchExecution(
        store,
        batch_id,
        lambda _recorder: ExplodingRunner(),
        RetryPolicy(),
        ExecutionOptions(concurrency=1),
    )
    with pytest.raises(RuntimeError, match="bug in a runner"):
        await crashing.run()
    assert store.count_by_status(batch_id) == {JobStatus.PENDING: 1}, "resume runs it"
    assert store.get_manifest(batch_id).status is BatchStatus.INTERRUPTED
