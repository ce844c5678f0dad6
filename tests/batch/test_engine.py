"""The engine end to end: a real CSV, a real SQLite store, real Chromium, the local site."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from paths import REPO

from batch.engine import BatchEngine
from batch.models import BatchStatus, JobStatus, ProgressEvent
from runtime.outcome import ErrorCategory
from runtime.run_context import RunContext

pytestmark = pytest.mark.browser

FORM_FLOW = REPO / "examples" / "add_customer.yaml"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def customers_csv(tmp_path: Path) -> Path:
    return write(
        tmp_path / "customers.csv",
        "name,email,plan,notes\n"
        "Ada,ada@example.com,pro,first\n"
        "Bob,not-an-email,basic,\n"
        'Cy,cy@example.com,enterprise,"two\nlines"\n',
    )


def url_flow(tmp_path: Path, path_template: str, **extra: str) -> Path:
    lines = [
        "name: url-flow",
        *(f"{k}: {v}" for k, v in extra.items()),
        "steps:",
        f'  - goto: "{{{{ base_url }}}}{path_template}"',
        '  - expect_visible: "p.ok"',
    ]
    return write(tmp_path / "flow.yaml", "\n".join(lines) + "\n")


async def test_form_batch_completes_valid_rows_and_fails_invalid_ones(
    make_engine: Callable[..., BatchEngine], customers_csv: Path, site: Any
) -> None:
    engine = make_engine()
    events: list[ProgressEvent] = []
    summary = await engine.start_batch(customers_csv, FORM_FLOW, events.append)

    jobs = {j.row_data["name"]: j for j in engine.store.iter_jobs(summary.batch_id)}
    assert jobs["Ada"].status is JobStatus.COMPLETED
    assert jobs["Cy"].status is JobStatus.COMPLETED
    assert jobs["Ada"].extracted["customer_id"].isdigit()
    bob = jobs["Bob"]
    assert bob.status is JobStatus.FAILED
    assert bob.error_category is ErrorCategory.BUSINESS
    assert len(bob.attempts) == 1, "business failures are not retried"
    assert {c["email"] for c in site.state.customers} == {"ada@example.com", "cy@example.com"}
    # a quoted multi-line CSV cell reaches the app intact (forms submit newlines as CRLF)
    cy_notes = [c["notes"] for c in site.state.customers if c["name"] == "Cy"]
    assert [n.replace("\r\n", "\n") for n in cy_notes] == ["two\nlines"]
    assert summary.success_rate == pytest.approx(2 / 3)
    assert events[-1].done == 3
    assert events[-1].failed == 1
    assert engine.store.get_manifest(summary.batch_id).status is BatchStatus.FINISHED


async def test_failed_attempt_leaves_screenshot_html_and_console_recorded(
    make_engine: Callable[..., BatchEngine], customers_csv: Path
) -> None:
    engine = make_engine()
    summary = await engine.start_batch(customers_csv, FORM_FLOW)
    batch_dir = engine.batch_dir(summary.batch_id)
    bob = next(j for j in engine.store.iter_jobs(summary.batch_id) if j.row_data["name"] == "Bob")
    kinds = {a["kind"] for a in bob.artifacts}
    assert {"screenshot", "html", "console"} <= kinds
    for artifact in bob.artifacts:
        assert (batch_dir / artifact["path"]).is_file()
    html = next(a for a in bob.artifacts if a["kind"] == "html")
    assert "Email is invalid" in (batch_dir / html["path"]).read_text(encoding="utf-8")
    ada = next(j for j in engine.store.iter_jobs(summary.batch_id) if j.row_data["name"] == "Ada")
    assert ada.artifacts == [], "passing rows pay for no artifacts"
    for name in ("report.html", "junit.xml", "results.csv", "summary.json", "manifest.json"):
        assert (batch_dir / name).is_file(), name


async def test_transient_failures_are_retried_and_marked_flaky_with_a_trace(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    csv_path = write(tmp_path / "rows.csv", "id,fail\nsteady,0\nwobbly,1\n")
    flow = url_flow(tmp_path, "/flaky/{{ row.id }}-{{ job.id }}?fail={{ row.fail }}")
    engine = make_engine(max_retries=2)
    summary = await engine.start_batch(csv_path, flow)

    jobs = {j.row_data["id"]: j for j in engine.store.iter_jobs(summary.batch_id)}
    assert jobs["steady"].status is JobStatus.COMPLETED
    assert not jobs["steady"].flaky
    wobbly = jobs["wobbly"]
    assert wobbly.status is JobStatus.COMPLETED
    assert wobbly.flaky
    assert [a.ok for a in wobbly.attempts] == [False, True]
    assert wobbly.attempts[0].category is ErrorCategory.TRANSIENT
    assert "503" in wobbly.attempts[0].message
    here = f"{socket.gethostname()}:{os.getpid()}"
    assert {a.host for a in wobbly.attempts} == {here}, "each attempt records where it ran"
    assert summary.flaky == 1
    # trace=retries: the retry (attempt 2) was traced; it passed, so the trace was dropped
    assert not any(a["kind"] == "trace" for a in wobbly.artifacts)


async def test_server_errors_fail_after_retries_with_traces_of_the_retries(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    csv_path = write(tmp_path / "rows.csv", "id\none\n")
    engine = make_engine(max_retries=2)
    summary = await engine.start_batch(csv_path, url_flow(tmp_path, "/always500"))
    (job,) = engine.store.iter_jobs(summary.batch_id)
    assert job.status is JobStatus.FAILED
    assert job.error_category is ErrorCategory.TRANSIENT
    assert [a.number for a in job.attempts] == [1, 2, 3]
    traced = [a.number for a in job.attempts if any(x["kind"] == "trace" for x in a.artifacts)]
    assert traced == [2, 3]
    trace = next(x for x in job.attempts[-1].artifacts if x["kind"] == "trace")
    assert (engine.batch_dir(summary.batch_id) / trace["path"]).stat().st_size > 0


async def test_rate_limited_rows_wait_for_retry_after(
    make_settings: Any, site_url: str, tmp_path: Path
) -> None:
    csv_path = write(tmp_path / "rows.csv", "id\nr1\n")
    flow = url_flow(tmp_path, "/ratelimit/{{ row.id }}?retry_after=7&times=1")
    sleeps: list[float] = []

    async def record_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    settings = make_settings(base_url=site_url, jitter=0.0, retry_delay=1.0, max_delay=30)
    engine = BatchEngine(RunContext(settings=settings), sleep=record_sleep)
    summary = await engine.start_batch(csv_path, flow)
    (job,) = engine.store.iter_jobs(summary.batch_id)
    assert job.status is JobStatus.COMPLETED
    assert job.attempts[0].category is ErrorCategory.RATE_LIMIT
    assert sleeps == [7.0]
    engine.close()


async def test_watchdog_ends_a_hung_job_and_the_batch_goes_on(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    csv_path = write(tmp_path / "rows.csv", "path\n/hang\n/flaky/fine?fail=0\n")
    flow = write(
        tmp_path / "flow.yaml",
        "name: hang\ntimeout: 2\nsteps:\n"
        '  - goto: "{{ base_url }}{{ row.path }}"\n'
        "    timeout: 60\n",
    )
    engine = make_engine(max_retries=0)
    summary = await asyncio.wait_for(engine.start_batch(csv_path, flow), timeout=60)
    jobs = {j.row_data["path"]: j for j in engine.store.iter_jobs(summary.batch_id)}
    hung = jobs["/hang"]
    assert hung.status is JobStatus.FAILED
    assert hung.error_category is ErrorCategory.TRANSIENT
    assert "timeout" in hung.error_message
    assert jobs["/flaky/fine?fail=0"].status is JobStatus.COMPLETED


async def test_cancel_then_resume_finishes_the_rest_exactly_once(
    make_engine: Callable[..., BatchEngine], tmp_path: Path, site: Any
) -> None:
    rows = "\n".join(f"P{n},p{n}@example.com,basic," for n in range(12))
    csv_path = write(tmp_path / "people.csv", f"name,email,plan,notes\n{rows}\n")
    engine = make_engine(concurrency=2)
    manifest = engine.create_batch_jobs(csv_path, FORM_FLOW)

    def stop_after_three(event: ProgressEvent) -> None:
        if event.done == 3:
            engine.stop()

    await engine.execute_batch_jobs(manifest.batch_id, stop_after_three)
    halfway = engine.store.get_manifest(manifest.batch_id)
    assert halfway.status is BatchStatus.INTERRUPTED
    assert 3 <= halfway.completed < 12
    assert halfway.count(JobStatus.PENDING) == 12 - halfway.completed

    summary = await engine.resume_batch(manifest.batch_id)
    final = engine.store.get_manifest(manifest.batch_id)
    assert final.completed == 12
    assert final.status is BatchStatus.FINISHED
    emails = [c["email"] for c in site.state.customers]
    assert sorted(emails) == sorted(f"p{n}@example.com" for n in range(12))
    assert summary.success_rate == 1.0


async def test_python_flow_extracts_values_and_business_failures(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    flow = write(
        tmp_path / "pyflow.py",
        "async def run(page, row, ctx):\n"
        "    await page.goto(ctx.base_url + '/customers/new')\n"
        "    if row['name'] == 'reject':\n"
        "        ctx.fail('rejected by the flow')\n"
        "    return {'title': await page.title(), 'attempt': str(ctx.attempt)}\n",
    )
    csv_path = write(tmp_path / "rows.csv", "name\nok\nreject\n")
    engine = make_engine()
    summary = await engine.start_batch(csv_path, flow)
    jobs = {j.row_data["name"]: j for j in engine.store.iter_jobs(summary.batch_id)}
    assert jobs["ok"].extracted == {"title": "New customer", "attempt": "1"}
    assert jobs["reject"].status is JobStatus.FAILED
    assert jobs["reject"].error_category is ErrorCategory.BUSINESS
    assert "rejected by the flow" in jobs["reject"].error_message


async def test_two_hundred_rows_are_all_accounted_for(
    make_engine: Callable[..., BatchEngine], tmp_path: Path, site: Any
) -> None:
    rows = "\n".join(f"Person {n},p{n}@example.com,{('basic', 'pro')[n % 2]}," for n in range(200))
    csv_path = write(tmp_path / "people.csv", f"name,email,plan,notes\n{rows}\n")
    engine = make_engine(concurrency=4)
    summary = await engine.start_batch(csv_path, FORM_FLOW)
    manifest = engine.store.get_manifest(summary.batch_id)
    assert manifest.total == 200
    assert manifest.completed == 200
    assert len(site.state.customers) == 200
    assert len({c["email"] for c in site.state.customers}) == 200
    data = json.loads((engine.batch_dir(summary.batch_id) / "summary.json").read_text())
    assert data["counts"]["completed"] == 200


async def test_a_crashed_renderer_is_transient_and_the_retry_completes(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    flow = write(
        tmp_path / "crashy.py",
        "import asyncio\n"
        "async def run(page, row, ctx):\n"
        "    await page.goto(ctx.base_url + '/crash')\n"
        "    if ctx.attempt == 1:\n"
        "        cdp = await page.context.new_cdp_session(page)\n"
        "        async with page.expect_event('crash'):\n"
        "            pending = asyncio.ensure_future(cdp.send('Page.crash'))  # never answered\n"
        "        pending.cancel()\n"
        "        await page.content()  # the renderer is gone: raises\n"
        "    return {'length': str(len(await page.content()))}\n",
    )
    engine = make_engine(max_retries=1)
    summary = await engine.start_batch(write(tmp_path / "rows.csv", "n\n1\n"), flow)
    (job,) = engine.store.iter_jobs(summary.batch_id)
    assert job.status is JobStatus.COMPLETED
    assert job.flaky
    assert job.attempts[0].category is ErrorCategory.TRANSIENT
    assert "crash" in job.attempts[0].message.lower()
