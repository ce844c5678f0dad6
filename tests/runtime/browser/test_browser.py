"""Finding Chromium, launching it, one fresh context per job, recycling and crash recovery.

Launch tests use the real Chromium of this machine against the local test site.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import psutil
import pytest
from playwright.async_api import BrowserContext
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from runtime.browser import (
    MEMORY_CHECK_EVERY,
    BrowserManager,
    chromium_tree_rss_bytes,
    find_chromium,
    launch_args,
)
from runtime.classify import classify
from runtime.errors import BrowserNotFoundError
from runtime.outcome import ErrorCategory


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def _no_system_browser(name: str) -> str | None:
    return None


# --- finding the executable ----------------------------------------------------------


def test_browser_path_setting_wins(make_settings: Any, tmp_path: Path) -> None:
    configured = _executable(tmp_path / "my-chrome")
    pw_dir = tmp_path / "pw"
    _executable(pw_dir / "chromium-1255" / "chrome-linux64" / "chrome")
    settings = make_settings(browser_path=configured)
    assert find_chromium(settings, playwright_dirs=[pw_dir]) == configured


def test_no_browser_anywhere_says_how_to_get_one(make_settings: Any, tmp_path: Path) -> None:
    with pytest.raises(BrowserNotFoundError) as caught:
        find_chromium(make_settings(), which=_no_system_browser, playwright_dirs=[tmp_path])
    message = str(caught.value)
    assert "playwright install chromium" in message
    assert "playwright install --only-shell chromium" in message
    assert "apt-get install chromium" in message
    assert "BATCH_BROWSER_PATH" in message
    assert str(tmp_path) in message


def test_playwright_browsers_come_before_the_system_ones(
    make_settings: Any, tmp_path: Path
) -> None:
    shell = _executable(
        tmp_path
        / "chromium_headless_shell-1255"
        / "chrome-headless-shell-linux64"
        / "chrome-headless-shell"
    )
    _executable(tmp_path / "chromium-1100" / "chrome-linux" / "chrome")
    newest = _executable(tmp_path / "chromium-1255" / "chrome-linux64" / "chrome")

    headless = make_settings(headless=True)
    headed = make_settings(headless=False)
    assert find_chromium(headless, playwright_dirs=[tmp_path]) == shell
    assert find_chromium(headed, playwright_dirs=[tmp_path]) == newest


def test_older_playwright_headless_shell_layout_is_found(
    make_settings: Any, tmp_path: Path
) -> None:
    shell = _executable(
        tmp_path / "chromium_headless_shell-1161" / "chrome-linux" / "headless_shell"
    )
    found = find_chromium(make_settings(), which=_no_system_browser, playwright_dirs=[tmp_path])
    assert found == shell


def test_system_headless_prefers_the_headless_shell_and_headed_full_chromium(
    make_settings: Any, tmp_path: Path
) -> None:
    shell, full = shutil.which("chromium-headless-shell"), shutil.which("chromium")
    if shell is None or full is None:
        pytest.skip("needs Debian's chromium and chromium-headless-shell")
    headless = find_chromium(make_settings(headless=True), playwright_dirs=[tmp_path])
    headed = find_chromium(make_settings(headless=False), playwright_dirs=[tmp_path])
    assert headless == Path(shell)
    assert headed == Path(full)


def test_headed_never_picks_a_headless_shell(make_settings: Any, tmp_path: Path) -> None:
    def only_shell(name: str) -> str | None:
        return "/opt/shell" if name == "chromium-headless-shell" else None

    with pytest.raises(BrowserNotFoundError, match="headed"):
        find_chromium(make_settings(headless=False), which=only_shell, playwright_dirs=[tmp_path])


@pytest.mark.parametrize("headless", [True, False])
def test_launch_args_disable_the_sandbox_only_when_asked(headless: bool) -> None:
    unsandboxed = launch_args(headless, sandbox=False)
    as_user = launch_args(headless, sandbox=True)
    assert "--no-sandbox" in unsandboxed
    assert "--no-sandbox" not in as_user
    for flag in ("--disable-background-networking", "--disable-component-update", "--no-first-run"):
        assert flag in as_user
    assert launch_args(headless) == launch_args(headless, sandbox=os.geteuid() != 0)
    assert ("--disable-gpu" in as_user) is headless


# --- contexts ---------------------------------------------------------------------------


@pytest.mark.browser
async def test_each_job_gets_a_fresh_context(
    browser_manager: BrowserManager, site_url: str
) -> None:
    async with browser_manager.new_context() as first:
        page = await first.new_page()
        await page.goto(site_url)
        await page.evaluate("document.cookie = 'session=row-1; path=/'")
        assert [c["name"] for c in await first.cookies()] == ["session"]
    async with browser_manager.new_context() as second:
        page = await second.new_page()
        await page.goto(site_url)
        assert await second.cookies() == []
        assert await page.evaluate("document.cookie") == ""
        assert page.viewport_size == {"width": 1280, "height": 720}
    assert browser_manager.jobs_started == 2


@pytest.mark.browser
async def test_context_is_closed_even_when_the_job_raises(
    browser_manager: BrowserManager, site_url: str
) -> None:
    contexts: list[BrowserContext] = []

    async def job() -> None:
        async with browser_manager.new_context() as context:
            contexts.append(context)
            page = await context.new_page()
            await page.goto(site_url)
            raise ValueError("row rejected")

    with pytest.raises(ValueError, match="row rejected"):
        await job()
    [context] = contexts
    assert context not in browser_manager.browser.contexts
    with pytest.raises(PlaywrightError, match="closed"):
        await context.new_page()


@pytest.mark.browser
async def test_browser_is_recycled_after_n_jobs_once_idle(
    make_settings: Any, site_url: str
) -> None:
    async with BrowserManager(make_settings(browser_recycle_jobs=2)) as manager:
        first = manager.browser
        for _ in range(2):
            async with manager.new_context() as context:
                await (await context.new_page()).goto(site_url)
        assert manager.browser is first

        async with manager.new_context() as third_job:
            second = manager.browser
            assert second is not first
            assert not first.is_connected()
            assert third_job.browser is second
        assert manager.launches == 2
        assert manager.jobs_started == 3


@pytest.mark.browser
async def test_recycling_waits_for_jobs_still_running(make_settings: Any, site_url: str) -> None:
    async with BrowserManager(make_settings(browser_recycle_jobs=1)) as manager:
        old = manager.browser
        async with manager.new_context() as running:
            page = await running.new_page()
            async with manager.new_context() as newer:
                assert newer.browser is not old
                assert old.is_connected(), "the old browser still runs a job"
                await page.goto(site_url)
                assert await page.title() == "Demo CRM"
        assert not old.is_connected(), "closed when its last job ended"


async def test_memory_limit_recycles_the_browser(make_settings: Any) -> None:
    settings = make_settings(browser_recycle_jobs=0, browser_recycle_memory_mb=1)
    async with BrowserManager(settings) as manager:
        assert chromium_tree_rss_bytes() > 1024 * 1024, "a running Chromium uses memory"
        first = manager.browser
        for _ in range(MEMORY_CHECK_EVERY):
            async with manager.new_context():
                pass
        assert manager.launches == 1, "memory is only looked at every N jobs"
        async with manager.new_context() as context:
            assert context.browser is not first
        assert manager.launches == 2
        assert not first.is_connected()


async def test_memory_limit_zero_never_recycles(make_settings: Any) -> None:
    settings = make_settings(browser_recycle_jobs=0, browser_recycle_memory_mb=0)
    async with BrowserManager(settings) as manager:
        for _ in range(MEMORY_CHECK_EVERY + 1):
            async with manager.new_context():
                pass
        assert manager.launches == 1


def _kill_chromium() -> int:
    """SIGKILL this test process's Chromium processes (only its own tree)."""
    killed = 0
    for process in psutil.Process().children(recursive=True):
        try:
            name = process.name()
            if "chrom" in name or "headless" in name:
                process.send_signal(signal.SIGKILL)
                killed += 1
        except psutil.NoSuchProcess:
            continue
    return killed


@pytest.mark.browser
async def test_a_killed_browser_is_relaunched_for_the_next_job(
    browser_manager: BrowserManager, site_url: str
) -> None:
    crashed = browser_manager.browser
    disconnected = asyncio.Event()
    crashed.on("disconnected", lambda _: disconnected.set())

    async with browser_manager.new_context() as in_flight:
        page = await in_flight.new_page()
        await page.goto(site_url)
        assert _kill_chromium() > 0
        await asyncio.wait_for(disconnected.wait(), timeout=10)
        with pytest.raises(PlaywrightError) as caught:
            await page.goto(site_url + "/customers/new")
    assert classify(caught.value)[0] is ErrorCategory.TRANSIENT

    async with browser_manager.new_context() as context:
        assert browser_manager.browser is not crashed
        page = await context.new_page()
        await page.goto(site_url + "/customers/new")
        assert await page.title() == "New customer"
    assert browser_manager.launches == 2


async def test_an_unlaunchable_browser_is_a_clear_configuration_error(
    make_settings: Any, tmp_path: Path
) -> None:
    broken = tmp_path / "not-chrome"
    broken.write_text("#!/bin/sh\necho 'error while loading libnss3.so' >&2\nexit 3\n")
    broken.chmod(0o755)
    manager = BrowserManager(make_settings(browser_path=broken), sandbox=False)
    with pytest.raises(BrowserNotFoundError) as caught:
        async with manager:
            pass
    message = str(caught.value)
    assert message.startswith(f"could not launch Chromium at {broken}: ")
    assert "error while loading libnss3.so" in message, "Chromium's own reason is kept"
    assert "BATCH_BROWSER_PATH" in message


# --- the test site's failure endpoints, as a browser sees them --------------------------


@pytest.mark.browser
async def test_failure_endpoints(browser_manager: BrowserManager, site_url: str) -> None:
    async with browser_manager.new_context() as context:
        page = await context.new_page()
        statuses = []
        for _ in range(3):
            response = await page.goto(f"{site_url}/flaky/row-7?fail=2")
            assert response is not None
            statuses.append(response.status)
        assert statuses == [503, 503, 200]
        assert await page.locator("p.ok").text_content() == "ok row-7"

        limited = await page.goto(f"{site_url}/ratelimit/row-8?retry_after=4&times=1")
        assert limited is not None
        assert (limited.status, limited.headers["retry-after"]) == (429, "4")
        again = await page.goto(f"{site_url}/ratelimit/row-8?retry_after=4&times=1")
        assert again is not None
        assert again.status == 200

        broken = await page.goto(f"{site_url}/always500")
        assert broken is not None
        assert broken.status == 500

        slow = await page.goto(f"{site_url}/slow?ms=300")
        assert slow is not None
        assert await page.locator("p.ok").text_content() == "slept 300 ms"


@pytest.mark.browser
async def test_hang_page_never_finishes_loading(
    browser_manager: BrowserManager, site: Any, site_url: str
) -> None:
    async with browser_manager.new_context() as context:
        page = await context.new_page()
        with pytest.raises(PlaywrightTimeoutError):
            await page.goto(f"{site_url}/hang", timeout=500)
        assert await page.locator("p.ok").text_content() == "content is here"
    # The /never handler notices the closed connection, so its server thread ends.
    for _ in range(100):
        if site.state.hits.get("never:ended") == site.state.hits.get("never:started") == 1:
            break
        await asyncio.sleep(0.05)
    assert site.state.hits["never:ended"] == 1


@pytest.mark.browser
async def test_a_sandbox_that_cannot_start_is_dropped_with_a_warning(
    make_settings: Any, site_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    if os.geteuid() != 0:
        pytest.skip("as root, Chromium refuses its sandbox: that is the failure exercised here")
    async with BrowserManager(make_settings(), sandbox=True) as manager:
        assert manager.sandbox is False
        async with manager.new_context() as context:
            page = await context.new_page()
            await page.goto(site_url)
            assert await page.title() == "Demo CRM"
    assert "would not start with its sandbox" in caplog.text
    assert "; Running as root without --no-sandbox is not supported" in caplog.text
