"""report.html in a real headless Chromium, opened from disk as a reader would."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import (
    Browser,
    Page,
    expect,
)
from watched_page import Watched

from batch.models import (
    AttemptRecord,
    BatchJob,
    BatchManifest,
    CsvDialect,
    ErrorCategory,
    JobStatus,
)
from batch.reports import write_reports

pytestmark = pytest.mark.browser

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
SCRIPT_TAG = "<script>alert(1)</script>"
IMG_TAG = "<img src=x onerror=alert(1)>"
BREAKOUT = "</script><script>alert(2)</script>"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
SHOT = "jobs/j1/attempt-1/failure shot.png"

MANIFEST = BatchManifest(
    batch_id="b-web",
    run_id="r1",
    csv_path="data/customers.csv",
    csv_sha256="0" * 64,
    encoding="utf-8",
    dialect=CsvDialect(delimiter=","),
    headers=["email", "name", "plan"],
    flow_ref="flows/signup.yaml",
    flow_name="signup",
    created_at=T0,
)


def make_job(index: int, status: JobStatus, email: str, name: str, message: str = "") -> BatchJob:
    ok = status is JobStatus.COMPLETED
    attempts = []
    if status is not JobStatus.SKIPPED:
        artifacts = [] if ok else [{"kind": "screenshot", "path": SHOT, "name": "failure"}]
        attempts.append(
            AttemptRecord(
                number=1,
                started_at=T0 + timedelta(seconds=index),
                duration_s=0.2 + (index % 50) / 10,
                ok=ok,
                category=None if ok else ErrorCategory.BUSINESS,
                message=message,
                artifacts=artifacts,
            )
        )
    return BatchJob(
        job_id=f"j{index}",
        batch_id="b-web",
        row_index=index,
        source_line=index + 2,
        row_data={"email": email, "name": name, "plan": "pro"},
        status=status,
        attempts=attempts,
        error_category=None if ok or not attempts else ErrorCategory.BUSINESS,
        error_message=message,
        created_at=T0,
        started_at=T0 + timedelta(seconds=index) if attempts else None,
        finished_at=T0 + timedelta(seconds=index + 1) if attempts else None,
    )


def hostile_batch() -> Iterator[BatchJob]:
    yield make_job(0, JobStatus.COMPLETED, "ada@example.com", "Ada")
    yield make_job(1, JobStatus.FAILED, SCRIPT_TAG, IMG_TAG, f"rejected {IMG_TAG}")
    yield make_job(2, JobStatus.COMPLETED, BREAKOUT, "Grace")
    yield make_job(3, JobStatus.FAILED, "linus@example.com", "Linus", "email already registered")
    yield make_job(4, JobStatus.SKIPPED, "ken@example.com", "Ken")


def big_batch(rows: int) -> Iterator[BatchJob]:
    for i in range(rows):
        status = JobStatus.FAILED if i % 10 == 3 else JobStatus.COMPLETED
        message = f"Timeout {i}ms exceeded" if status is JobStatus.FAILED else ""
        yield make_job(i, status, f"user{i}@example.com", f"User {i}", message)


async def open_report(browser: Browser, path: Path) -> Watched:
    page = await browser.new_page(viewport={"width": 1366, "height": 900})
    watched = Watched(page)
    await page.goto(path.as_uri())
    return watched


async def visible_statuses(page: Page) -> list[str]:
    return await page.locator("#rows tbody .badge:not(.flaky)").all_text_contents()


async def test_counts_filter_search_and_hostile_values(browser: Browser, tmp_path: Path) -> None:
    (tmp_path / SHOT).parent.mkdir(parents=True)
    (tmp_path / SHOT).write_bytes(PNG)
    report = write_reports(MANIFEST, hostile_batch, tmp_path, ["html"])["html"]
    watched = await open_report(browser, report)
    page = watched.page

    assert await page.text_content("#count-total") == "5"
    assert await page.text_content("#count-failed") == "2"
    assert await page.text_content("#success-rate") == "50.0%"
    assert await page.text_content("#row-count") == "Showing 1\u20135 of 5 rows"
    assert await page.locator("#rows tbody tr").count() == 5

    # Hostile values are text: visible as typed, no dialog, no injected element.
    table = page.locator("#rows tbody")
    await table.get_by_text(SCRIPT_TAG, exact=True).wait_for()
    assert await table.get_by_text(IMG_TAG, exact=True).is_visible()
    assert await table.get_by_text(BREAKOUT, exact=True).is_visible()
    assert await page.locator("#error-groups").get_by_text(f"rejected {IMG_TAG}").is_visible()
    assert await page.locator("img[src='x']").count() == 0
    assert await page.locator("body script").count() == 2  # the data block and ours

    # The screenshot thumbnail loads from the relative path (space in the name).
    thumb = page.locator("img.thumb").first
    await thumb.scroll_into_view_if_needed()
    await expect(thumb).to_have_js_property("complete", True)
    assert await thumb.evaluate("img => img.naturalWidth") == 1

    await page.select_option("#status-filter", "failed")
    assert await visible_statuses(page) == ["failed", "failed"]
    assert await page.text_content("#row-count") == "Showing 1\u20132 of 2 rows (filtered from 5)"

    await page.select_option("#status-filter", "")
    await page.fill("#search", "ADA@example")
    await expect(page.locator("#rows tbody tr")).to_have_count(1)
    assert await page.locator("#rows tbody td").nth(1).text_content() == "ada@example.com"

    await page.fill("#search", "already registered")
    await expect(page.locator("#rows tbody td").nth(1)).to_have_text("linus@example.com")
    await expect(page.locator("#rows tbody tr")).to_have_count(1)
    assert await visible_statuses(page) == ["failed"]

    await page.fill("#search", "no such value anywhere")
    await expect(page.locator("#row-count")).to_have_text("No rows match (filtered from 5)")
    assert await page.locator("#rows tbody tr").count() == 0

    assert watched.dialogs == []
    assert watched.errors == []


async def test_ten_thousand_rows_render_a_page_at_a_time(browser: Browser, tmp_path: Path) -> None:
    rows = 10_000
    (tmp_path / SHOT).parent.mkdir(parents=True)
    (tmp_path / SHOT).write_bytes(PNG)
    started = time.perf_counter()
    report = write_reports(MANIFEST, lambda: big_batch(rows), tmp_path, ["html"])["html"]
    generated = time.perf_counter() - started

    started = time.perf_counter()
    watched = await open_report(browser, report)
    page = watched.page
    await expect(page.locator("#rows tbody tr")).to_have_count(100)
    loaded = time.perf_counter() - started
    print(
        f"\n10,000-row report: {report.stat().st_size / 1e6:.1f} MB generated in "
        f"{generated:.2f} s, loaded and first page rendered in {loaded:.2f} s"
    )

    assert await page.text_content("#count-total") == "10000"
    assert await page.text_content("#row-count") == "Showing 1\u2013100 of 10000 rows"
    assert await page.text_content("#page-info") == "page 1 of 100"
    await page.click("#next-page")
    assert await page.locator("#rows tbody td.num").first.text_content() == "101"

    started = time.perf_counter()
    await page.select_option("#status-filter", "failed")
    await page.fill("#search", "user9993@")
    await expect(page.locator("#row-count")).to_have_text(
        "Showing 1\u20131 of 1 rows (filtered from 10000)"
    )
    print(f"filter + search over 10,000 rows: {time.perf_counter() - started:.2f} s")
    assert await visible_statuses(page) == ["failed"]
    assert watched.dialogs == []
    assert watched.errors == []
