"""Data-entry safety in the engine: keys, duplicates, skip-completed, verify, secret
masking. Real Chromium, the local site and a real SQLite store. The policies that need
only outcomes (needs_review and review, the circuit breaker, rate and delay) run
through the scripted runner in tests/batch/run/test_execution.py."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from paths import REPO

from batch.engine import BatchEngine
from batch.exceptions import FileProcessingError
from batch.models import JobStatus
from runtime.outcome import ErrorCategory

pytestmark = pytest.mark.browser

FORM_FLOW = (REPO / "examples" / "add_customer.yaml").read_text(encoding="utf-8")
WITHOUT_VERIFY = FORM_FLOW.split("\n# After a crash")[0] + "\n"
assert "idempotent: false" in FORM_FLOW
assert "verify:" in FORM_FLOW
assert "verify:" not in WITHOUT_VERIFY


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def people(tmp_path: Path, *rows: str, name: str = "people.csv") -> Path:
    return write(tmp_path / name, "name,email,plan,notes\n" + "".join(f"{r}\n" for r in rows))


def form_flow(tmp_path: Path, extra: str = "") -> Path:
    """The demo's customer flow (not idempotent) without its verify steps."""
    return write(tmp_path / "form.yaml", WITHOUT_VERIFY + extra)


def test_duplicate_keys_fail_the_batch_before_anything_runs(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    csv_path = people(
        tmp_path, "A,a@example.com,pro,", "B,b@example.com,pro,", "A again,a@example.com,basic,"
    )
    engine = make_engine()
    with pytest.raises(FileProcessingError, match=r"same email.*lines 2 and 4") as raised:
        engine.create_batch_jobs(csv_path, form_flow(tmp_path))
    assert "BATCH_DUPLICATE_ROWS=skip" in str(raised.value)
    assert engine.list_batches() == [], "a refused batch leaves nothing behind"


async def test_duplicate_keys_can_be_kept_as_skipped_rows(
    make_engine: Callable[..., BatchEngine], tmp_path: Path, site: Any
) -> None:
    csv_path = people(
        tmp_path, "A,a@example.com,pro,", "A again,a@example.com,basic,", "B,b@example.com,pro,"
    )
    engine = make_engine(duplicate_rows="skip")
    summary = await engine.start_batch(csv_path, form_flow(tmp_path))
    jobs = {j.row_data["name"]: j for j in engine.store.iter_jobs(summary.batch_id)}
    assert jobs["A again"].status is JobStatus.SKIPPED
    assert jobs["A again"].error_message == "duplicate key of line 2"
    assert sorted(c["email"] for c in site.state.customers) == ["a@example.com", "b@example.com"]


async def test_identical_rows_are_duplicates_without_a_declared_key(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    csv_path = write(tmp_path / "rows.csv", "n\n1\n2\n1\n")
    flow = write(tmp_path / "flow.yaml", 'name: f\nsteps:\n  - goto: "{{ base_url }}/"\n')
    with pytest.raises(FileProcessingError, match=r"identical content.*lines 2 and 4"):
        make_engine().create_batch_jobs(csv_path, flow)


async def test_skip_completed_skips_rows_an_earlier_batch_entered(
    make_engine: Callable[..., BatchEngine], tmp_path: Path, site: Any
) -> None:
    flow = form_flow(tmp_path)
    engine = make_engine()
    first = await engine.start_batch(people(tmp_path, "A,a@example.com,pro,"), flow)

    again = people(tmp_path, "A,a@example.com,pro,", "B,b@example.com,pro,", name="again.csv")
    second = await make_engine(skip_completed=True).start_batch(again, flow)
    jobs = {j.row_data["name"]: j for j in engine.store.iter_jobs(second.batch_id)}
    assert jobs["A"].status is JobStatus.SKIPPED
    assert jobs["A"].error_message == f"already completed in batch {first.batch_id}"
    assert jobs["B"].status is JobStatus.COMPLETED
    assert [c["email"] for c in site.state.customers] == ["a@example.com", "b@example.com"]


def interrupt_after_commit(engine: BatchEngine, batch_id: str, row_index: int) -> str:
    """What a crash leaves: a job running, past its commit step, owned by a dead engine."""
    job_id = engine.store.job_ids(batch_id)[row_index]
    dead_owner = f"{os.uname().nodename}:999999999:deadbeef"
    token = engine.store.claim_job(job_id, dead_owner, lease_s=3600)
    assert token is not None
    engine.store.mark_reached_commit(job_id, token)
    return job_id


async def test_secret_values_are_masked_in_messages_and_reports(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    secret = "Hunter2Secret"
    csv_path = people(tmp_path, f"{secret},bad-email,pro,")
    flow = form_flow(tmp_path, "secrets: [name]\n")
    engine = make_engine(max_retries=0)
    summary = await engine.start_batch(csv_path, flow)
    (job,) = engine.store.iter_jobs(summary.batch_id)
    assert job.status is JobStatus.FAILED
    assert job.error_category is ErrorCategory.BUSINESS
    assert "***" in job.error_message
    assert secret not in job.error_message
    assert not any(a["kind"] == "trace" for a in job.artifacts)
    batch_dir = engine.batch_dir(summary.batch_id)
    for name in ("report.html", "junit.xml", "results.csv", "summary.json", "summary.md"):
        assert secret not in (batch_dir / name).read_text(encoding="utf-8-sig"), name


async def test_verify_steps_settle_unknown_outcomes_without_entering_twice(
    make_engine: Callable[..., BatchEngine], tmp_path: Path, site: Any, site_url: str
) -> None:
    csv_path = people(tmp_path, "A,a@example.com,pro,", "B,b@example.com,pro,")
    flow = write(tmp_path / "verified.yaml", FORM_FLOW)  # the example: idempotent false + verify
    engine = make_engine()
    manifest = engine.create_batch_jobs(csv_path, flow)
    entered = interrupt_after_commit(engine, manifest.batch_id, 0)
    not_entered = interrupt_after_commit(engine, manifest.batch_id, 1)
    # the crash happened after A's submit reached the app, before B's did
    site.state.add_customer({"name": "A", "email": "a@example.com", "plan": "pro", "notes": ""})

    await engine.execute_batch_jobs(manifest.batch_id)
    assert engine.store.get_job(entered).status is JobStatus.COMPLETED
    assert engine.store.get_job(entered).error_message == "verified: the record exists"
    assert engine.store.get_job(not_entered).status is JobStatus.COMPLETED
    emails = sorted(c["email"] for c in site.state.customers)
    assert emails == ["a@example.com", "b@example.com"], "each entered exactly once"
