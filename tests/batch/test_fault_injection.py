"""Kill -9 in the middle of a batch, resume it, and check from the server's own log
that data entry stayed exactly-once.

Each trial runs ``batchwright run`` in its own session against the local site (which
lives in this test process, so the submissions it records survive the kill), SIGKILLs
the CLI and its Chromium at a random moment (seeded, printed) or right after the Nth
submission, then runs ``batchwright resume`` to completion. Set ``FAULT_SEED`` to
replay a run's trials. One trial runs on a PostgreSQL store (``BATCH_STORE_URL`` in the
working directory's ``.env``, which the CLI reads).
"""

from __future__ import annotations

import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _fault_runner as runner
import pytest
import yaml

from batch.models import JobStatus
from batch.store import ManifestStore, default_store_path

pytestmark = pytest.mark.browser

TESTS = Path(__file__).parent
FORM_FLOW = yaml.safe_load(
    (TESTS.parent.parent / "examples" / "add_customer.yaml").read_text(encoding="utf-8")
)
BASE_SEED = int(os.environ.get("FAULT_SEED", "20260301"))
ROWS = 16
ROW_TIME_S = 0.3
"""About one form row at concurrency 2 on a 2-core machine: sets the kill window."""
BATCH_LINE = re.compile(rb"batch (\d{8}-\d{6}-[0-9a-f]{6}): \d+ rows")
SETTLED = {JobStatus.COMPLETED, JobStatus.NEEDS_REVIEW, JobStatus.FAILED}


@dataclass
class Trial:
    """One kill-and-resume trial and what the server and the store say about it."""

    seed: int
    rows: int
    idempotent: bool
    store: Path | str
    """The store the CLI writes to: the default SQLite file, or a PostgreSQL URL."""
    killed_at: str = ""
    in_flight: set[str] = field(default_factory=set)
    """Emails of the jobs left ``running`` by the kill."""
    statuses: dict[str, JobStatus] = field(default_factory=dict)
    submissions: Counter[str] = field(default_factory=Counter)

    def count(self, status: JobStatus) -> int:
        return sum(1 for s in self.statuses.values() if s is status)

    @property
    def duplicated(self) -> list[str]:
        return sorted(email for email, times in self.submissions.items() if times > 1)

    def line(self, number: int) -> str:
        return (
            f"kill trial {number} (seed {self.seed}, idempotent={self.idempotent}): "
            f"rows={self.rows} killed-at={self.killed_at} in-flight={len(self.in_flight)} "
            f"completed={self.count(JobStatus.COMPLETED)} "
            f"needs_review={self.count(JobStatus.NEEDS_REVIEW)} "
            f"failed={self.count(JobStatus.FAILED)} "
            f"submitted={sum(self.submissions.values())} duplicated={len(self.duplicated)}"
        )


def write_inputs(workdir: Path, trial: Trial) -> list[str]:
    """The CSV (a unique email per row) and the customer-form flow; returns the emails."""
    emails = [f"t{trial.seed}-r{n}@example.com" for n in range(trial.rows)]
    lines = [f"Row {n},{email},{('basic', 'pro')[n % 2]},seed {trial.seed}" for n, email in
             enumerate(emails)]  # fmt: skip
    (workdir / "rows.csv").write_text("name,email,plan,notes\n" + "\n".join(lines) + "\n")
    # the demo's customer form; the idempotent variant also drops the verify steps, so
    # an interrupted row is simply run again
    flow = {**FORM_FLOW, "idempotent": trial.idempotent}
    if trial.idempotent:
        flow.pop("verify", None)
    (workdir / "flow.yaml").write_text(yaml.safe_dump(flow, sort_keys=False), encoding="utf-8")
    return emails


def wait_for(condition: Any, process: Any, what: str, timeout: float = 60) -> None:
    """Poll ``condition`` until true or the run exits (then the kill finds it finished)."""
    deadline = time.monotonic() + timeout
    while not condition() and process.poll() is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def run_and_kill(workdir: Path, site: Any, site_url: str, trial: Trial, rng: random.Random) -> None:
    """Start the batch and SIGKILL it (with its Chromium) after a random delay or the Nth
    submission, whichever the seed picks."""
    log = workdir / "run.log"
    process = runner.start_batchwright(
        "run", "rows.csv", "--flow", "flow.yaml", "--base-url", site_url,
        "--concurrency", "2", "--progress", "lines", cwd=workdir, log=log,
    )  # fmt: skip
    if rng.random() < 0.5:
        delay = rng.uniform(0.5, 1.0 + trial.rows * ROW_TIME_S)
        wait_for(lambda: BATCH_LINE.search(log.read_bytes()), process, "the batch to be created")
        time.sleep(delay)
        trial.killed_at = f"{delay:.2f}s"
    else:
        nth = rng.randint(1, trial.rows - 1)
        wait_for(lambda: len(site.state.customers) >= nth, process, f"submission {nth}")
        trial.killed_at = f"submission#{nth}"
    if process.poll() is not None:
        trial.killed_at += "(run had ended)"
    runner.kill_tree(process)


def batch_of(trial: Trial) -> str:
    with ManifestStore(trial.store) as store:
        (manifest,) = store.list_batches()
        return manifest.batch_id


def settle(workdir: Path, site: Any, site_url: str, trial: Trial) -> str:
    """Note what the kill left running, resume to completion, read the final state."""
    batch_id = batch_of(trial)
    with ManifestStore(trial.store) as store:
        trial.in_flight = {
            job.row_data["email"] for job in store.iter_jobs(batch_id, [JobStatus.RUNNING])
        }
    resumed = runner.batchwright(
        "resume", batch_id, "--base-url", site_url, "--concurrency", "2", "--quiet", cwd=workdir
    )
    output = resumed.stdout + resumed.stderr
    with ManifestStore(trial.store) as store:
        trial.statuses = {job.row_data["email"]: job.status for job in store.iter_jobs(batch_id)}
    expected_exit = 1 if trial.count(JobStatus.NEEDS_REVIEW) or trial.count(JobStatus.FAILED) else 0
    assert resumed.returncode == expected_exit, output
    with site.state.lock:
        trial.submissions = Counter(c["email"] for c in site.state.customers)
    return batch_id


def check_accounting(workdir: Path, batch_id: str, emails: list[str], trial: Trial) -> None:
    """No row lost: every CSV row has one job, settled; the counts agree with the jobs."""
    assert sorted(trial.statuses) == sorted(emails), "every CSV row has exactly one job"
    unsettled = {e: s for e, s in trial.statuses.items() if s not in SETTLED}
    assert not unsettled, f"rows left unsettled after resume: {unsettled}"
    assert set(trial.submissions) <= set(emails), "only this batch's rows reached the site"
    with ManifestStore(trial.store) as store:
        manifest = store.get_manifest(batch_id)
        jobs = list(store.iter_jobs(batch_id))
    assert manifest.total == len(emails)
    assert {s: n for s, n in manifest.counts.items() if n} == Counter(j.status for j in jobs)
    for job in jobs:
        if job.status is JobStatus.FAILED:
            assert job.error_message, f"row {job.row_index} failed without a reason"
        if job.status is JobStatus.NEEDS_REVIEW:
            assert job.reached_commit, f"row {job.row_index} held for review before its commit"
    exported = (workdir / "artifacts" / batch_id / "manifest.json").read_text(encoding="utf-8")
    assert f'"total": {len(emails)}' in exported


def run_trial(
    number: int,
    idempotent: bool,
    tmp_path: Path,
    site: Any,
    site_url: str,
    *,
    store_url: str | None = None,
) -> tuple[Trial, list[str]]:
    seed = BASE_SEED + number
    store = store_url or default_store_path(tmp_path / "artifacts")
    trial = Trial(seed=seed, rows=ROWS, idempotent=idempotent, store=store)
    if store_url:
        (tmp_path / ".env").write_text(f"BATCH_STORE_URL={store_url}\n", encoding="utf-8")
    emails = write_inputs(tmp_path, trial)
    run_and_kill(tmp_path, site, site_url, trial, random.Random(seed))
    batch_id = settle(tmp_path, site, site_url, trial)
    check_accounting(tmp_path, batch_id, emails, trial)
    return trial, emails


@pytest.mark.parametrize(
    "number",
    [0, 1, *(pytest.param(n, marks=pytest.mark.slow) for n in range(100, 110))],
)
def test_kill_then_resume_enters_each_row_at_most_once(
    number: int, tmp_path: Path, site: Any, site_url: str, request: pytest.FixtureRequest
) -> None:
    trial, emails = run_trial(number, False, tmp_path, site, site_url)
    runner.report_line(request, trial.line(number))
    check_at_most_once(trial, emails, number)


def test_kill_then_resume_on_a_postgresql_store(
    pg_url: str, tmp_path: Path, site: Any, site_url: str, request: pytest.FixtureRequest
) -> None:
    """The same guarantees when the store is PostgreSQL: its leases, tokens and commit
    marks survive the kill as SQLite's do."""
    trial, emails = run_trial(2, False, tmp_path, site, site_url, store_url=pg_url)
    runner.report_line(request, trial.line(2))
    check_at_most_once(trial, emails, 2)


def check_at_most_once(trial: Trial, emails: list[str], number: int) -> None:
    """No row entered twice; only rows in flight at the kill wait in review."""
    assert not trial.duplicated, f"rows submitted twice: {trial.duplicated} ({trial.line(number)})"
    for email, status in trial.statuses.items():
        times = trial.submissions[email]
        if status is JobStatus.COMPLETED:
            assert times == 1, f"{email} completed but was submitted {times} times"
        else:
            assert times <= 1, f"{email} ({status}) was submitted {times} times"
    reviewed = {e for e, s in trial.statuses.items() if s is JobStatus.NEEDS_REVIEW}
    assert reviewed <= trial.in_flight, "only rows in flight at the kill can need review"
    assert trial.count(JobStatus.COMPLETED) + len(reviewed) + trial.count(JobStatus.FAILED) == len(
        emails
    )


def test_idempotent_flow_reruns_in_flight_rows_and_loses_none(
    tmp_path: Path, site: Any, site_url: str, request: pytest.FixtureRequest
) -> None:
    """Without ``idempotent: false`` the engine re-runs interrupted rows: nothing is lost,
    but a row whose submit had already gone out is entered twice. That is the reason
    ``idempotent: false`` exists."""
    trial, emails = run_trial(50, True, tmp_path, site, site_url)
    runner.report_line(request, trial.line(50))

    assert all(s is JobStatus.COMPLETED for s in trial.statuses.values()), trial.statuses
    assert all(trial.submissions[email] >= 1 for email in emails), "no row lost"
    assert set(trial.duplicated) <= trial.in_flight, "only rows in flight can be entered twice"
    assert max(trial.submissions.values()) <= 2
