"""Artifact naming and capture: real pages, real files, real traces."""

from __future__ import annotations

import asyncio
import re
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.browser import BrowserManager
from runtime.evidence.artifacts import AttemptArtifacts, job_dir_name, safe_name
from runtime.evidence.page_log import PageLog

SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("after submit", "after_submit"),
        ("../../etc/passwd", "etc_passwd"),
        ("..\\..\\windows\\system32", "windows_system32"),
        (".hidden", "hidden"),
        ("Überprüfung café", "Uberprufung_cafe"),
        ("日本語", "unnamed"),
        ("", "unnamed"),
        ("...", "unnamed"),
        ("ok-name_1.2", "ok-name_1.2"),
    ],
)
def test_safe_name(raw: str, expected: str) -> None:
    assert safe_name(raw) == expected


@given(st.text())
def test_safe_name_is_always_one_bounded_harmless_component(raw: str) -> None:
    name = safe_name(raw)
    assert SAFE.fullmatch(name)
    assert len(name) <= 80
    assert Path(name).name == name


def test_job_dir_name_sorts_by_row_and_never_holds_raw_values() -> None:
    assert job_dir_name(42, "b1-42") == "000042-b1-42"
    hostile = job_dir_name(7, "../../x/" + "a" * 500 + "\n<script>")
    assert hostile.startswith("000007-")
    assert "/" not in hostile
    assert "<" not in hostile
    assert len(hostile) <= 7 + 64
    assert SAFE.fullmatch(hostile)


@pytest.mark.browser
async def test_capture_failure_writes_screenshot_html_and_console(
    browser_manager: BrowserManager, site_url: str, tmp_path: Path
) -> None:
    batch_dir = tmp_path / "batch"
    artifacts = AttemptArtifacts(batch_dir, job_dir_name(3, "job-3"), attempt=2)
    log = PageLog()
    async with browser_manager.new_context() as context:
        page = await context.new_page()
        log.watch(page)
        await page.goto(site_url + "/customers/new")
        async with page.expect_console_message(lambda m: "hello from the page" in m.text):
            await page.evaluate("console.log('hello from the page')")
        async with page.expect_event("pageerror"):
            await page.evaluate("setTimeout(() => { throw new Error('kaboom') }, 0)")
        captured = await artifacts.capture_failure(page, log.lines, screenshot=True, html=True)

    assert [(a.kind, a.path) for a in captured] == [
        ("screenshot", "jobs/000003-job-3/attempt-2-screenshot.png"),
        ("html", "jobs/000003-job-3/attempt-2-html.html"),
        ("console", "jobs/000003-job-3/attempt-2-console.log"),
    ]
    assert artifacts.artifacts == captured
    assert (batch_dir / captured[0].path).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "Save customer" in (batch_dir / captured[1].path).read_text(encoding="utf-8")
    console = (batch_dir / captured[2].path).read_text(encoding="utf-8")
    assert "[console.log] hello from the page" in console
    assert "[pageerror]" in console
    assert "kaboom" in console


@pytest.mark.browser
async def test_named_screenshots_are_sanitised_and_never_overwritten(
    browser_manager: BrowserManager, site_url: str, tmp_path: Path
) -> None:
    artifacts = AttemptArtifacts(tmp_path, "000001-j", attempt=1)
    async with browser_manager.new_context() as context:
        page = await context.new_page()
        await page.goto(site_url)
        first = await artifacts.screenshot(page, "../after submit")
        second = await artifacts.screenshot(page, "../after submit", full_page=True)
    assert first.path == "jobs/000001-j/attempt-1-screenshot-after_submit.png"
    assert second.path == "jobs/000001-j/attempt-1-screenshot-after_submit-2.png"
    assert first.kind == second.kind == "screenshot"
    assert first.name == "after_submit"
    for artifact in (first, second):
        assert (tmp_path / artifact.path).read_bytes().startswith(b"\x89PNG")


@pytest.mark.browser
async def test_kept_trace_is_a_playwright_trace_zip(
    browser_manager: BrowserManager, site_url: str, tmp_path: Path
) -> None:
    artifacts = AttemptArtifacts(tmp_path, "job", attempt=2)
    async with browser_manager.new_context() as context:
        await artifacts.start_trace(context)
        page = await context.new_page()
        await page.goto(site_url)
        trace = await artifacts.stop_trace(context, keep=True)
    assert trace is not None
    assert trace.kind == "trace"
    assert trace.path == "jobs/job/attempt-2-trace.zip"
    with zipfile.ZipFile(tmp_path / trace.path) as archive:
        names = archive.namelist()
        assert "trace.trace" in names
        assert site_url in archive.read("trace.trace").decode("utf-8", "replace")


@pytest.mark.browser
async def test_a_passing_attempt_leaves_no_files(
    browser_manager: BrowserManager, site_url: str, tmp_path: Path
) -> None:
    batch_dir = tmp_path / "batch"
    traced = AttemptArtifacts(batch_dir, "traced", attempt=2)
    untraced = AttemptArtifacts(batch_dir, "untraced", attempt=1)
    log = PageLog()
    async with browser_manager.new_context() as context:
        await traced.start_trace(context)
        page = await context.new_page()
        log.watch(page)
        await page.goto(site_url)
        await page.evaluate("console.log('passing rows log too')")
        assert await traced.stop_trace(context, keep=False) is None
    assert traced.artifacts == []
    assert untraced.artifacts == []
    assert not batch_dir.exists()


@pytest.mark.browser
async def test_capture_on_a_closed_page_records_only_what_it_can(
    browser_manager: BrowserManager, site_url: str, tmp_path: Path
) -> None:
    artifacts = AttemptArtifacts(tmp_path, "job", attempt=1)
    log = PageLog()
    async with browser_manager.new_context() as context:
        await artifacts.start_trace(context)
        page = await context.new_page()
        log.watch(page)
        await page.goto(site_url)
        await page.evaluate("console.log('before close')")
        await page.close()
        captured = await artifacts.capture_failure(page, log.lines, screenshot=True, html=True)
    assert [a.kind for a in captured] == ["console"]
    # The context is gone now: stopping its trace fails quietly.
    assert await artifacts.stop_trace(context, keep=True) is None
    assert all((tmp_path / a.path).is_file() for a in artifacts.artifacts)


@pytest.mark.browser
async def test_capture_on_a_crashed_page_does_not_raise(
    browser_manager: BrowserManager, site_url: str, tmp_path: Path
) -> None:
    artifacts = AttemptArtifacts(tmp_path, "job", attempt=1)
    log = PageLog()
    async with browser_manager.new_context() as context:
        page = await context.new_page()
        await page.goto(site_url + "/crash")
        async with page.expect_event("crash"):
            cdp = await context.new_cdp_session(page)
            # Page.crash never answers: the renderer it would answer from is gone.
            pending = asyncio.ensure_future(cdp.send("Page.crash"))
        pending.cancel()
        captured = await artifacts.capture_failure(page, log.lines, screenshot=True, html=True)
    assert [a.kind for a in captured] == ["console"]
    log = (tmp_path / captured[0].path).read_text(encoding="utf-8")
    assert log == "(no console messages)\n"
    assert [p.name for p in (tmp_path / "jobs" / "job").iterdir()] == ["attempt-1-console.log"]
