"""PageLog: what a page said, against real Chromium and the local site."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page

from runtime.browser import BrowserManager
from runtime.evidence.page_log import CONSOLE_MAX_LINES, PageLog

pytestmark = pytest.mark.browser


@pytest.fixture
async def watched(
    browser_manager: BrowserManager, site_url: str
) -> AsyncIterator[tuple[Page, PageLog]]:
    """A page on the local site, and the log watching it."""
    log = PageLog()
    async with browser_manager.new_context() as context:
        page = await context.new_page()
        log.watch(page)
        await page.goto(site_url)
        yield page, log


async def test_failed_requests_are_in_the_console_log(watched: tuple[Page, PageLog]) -> None:
    page, log = watched
    async with page.expect_event("requestfailed"):
        await page.evaluate("fetch('http://127.0.0.1:9/nothing').catch(() => {})")
    assert any("[requestfailed] GET http://127.0.0.1:9/nothing" in line for line in log.lines)


async def test_console_keeps_only_the_newest_lines(watched: tuple[Page, PageLog]) -> None:
    page, log = watched
    total = CONSOLE_MAX_LINES + 50
    async with page.expect_console_message(lambda m: m.text == f"line {total - 1}"):
        await page.evaluate(f"for (let i = 0; i < {total}; i++) console.log('line ' + i)")
    lines = log.lines
    assert len(lines) == CONSOLE_MAX_LINES
    assert lines[0].endswith("line 50")
    assert lines[-1].endswith(f"line {total - 1}")


async def test_a_new_row_starts_an_empty_log_on_the_same_page(
    watched: tuple[Page, PageLog],
) -> None:
    page, log = watched
    async with page.expect_console_message(lambda m: m.text == "row one"):
        await page.evaluate("console.log('row one')")
    log.start_row()
    async with page.expect_console_message(lambda m: m.text == "row two"):
        await page.evaluate("console.log('row two')")
    assert len(log.lines) == 1
    assert log.lines[0].endswith("[console.log] row two")
