"""Every exception an attempt can raise maps to a category and a short message.

Playwright's errors are produced for real: a refused connection, a missing
selector, a failed expectation, a crashed renderer, a closed context.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from playwright.async_api import expect

from runtime.browser import BrowserManager
from runtime.classify import MAX_MESSAGE_CHARS, classify, clean_message
from runtime.errors import (
    BrowserNotFoundError,
    BusinessError,
    ConfigurationError,
    FlowError,
    HttpStatusError,
)
from runtime.outcome import ErrorCategory

TRANSIENT, BUSINESS = ErrorCategory.TRANSIENT, ErrorCategory.BUSINESS


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def _raised(action: Any) -> BaseException:
    try:
        await action
    except BaseException as exc:
        return exc
    pytest.fail("expected the action to raise")


# --- real Playwright errors -------------------------------------------------------------


@pytest.mark.browser
async def test_playwright_errors(browser_manager: BrowserManager, site_url: str) -> None:
    async with browser_manager.new_context() as context:
        page = await context.new_page()

        refused = await _raised(page.goto(f"http://127.0.0.1:{_unused_port()}/", timeout=5000))
        assert isinstance(refused, PlaywrightError)
        category, message, retry_after = classify(refused)
        assert category is TRANSIENT
        assert message.startswith("Page.goto: net::ERR_CONNECTION_REFUSED at http://127.0.0.1:")
        assert retry_after is None

        page = await context.new_page()  # the refused one is busy showing its error page
        await page.goto(site_url)
        missing = await _raised(page.click("#does-not-exist", timeout=200))
        assert isinstance(missing, PlaywrightTimeoutError)
        assert "Call log" in str(missing)
        category, message, _ = classify(missing)
        assert category is TRANSIENT
        assert message.startswith("Page.click: Timeout 200ms exceeded")
        assert "Call log" not in message
        assert "\n" not in message

        failed = await _raised(expect(page.locator("h1")).to_have_text("Nope", timeout=200))
        assert isinstance(failed, AssertionError)
        category, message, _ = classify(failed)
        assert category is BUSINESS
        assert "Nope" in message
        assert "Call log" not in message

        script = await _raised(page.evaluate("() => { throw new Error('bad script') }"))
        category, message, _ = classify(script)
        assert category is ErrorCategory.UNKNOWN
        assert message.startswith("Error: Page.evaluate: Error: bad script")


@pytest.mark.browser
async def test_crashed_and_closed_pages_are_transient(
    browser_manager: BrowserManager, site_url: str
) -> None:
    async with browser_manager.new_context() as context:
        page = await context.new_page()
        await page.goto(site_url + "/crash")
        async with page.expect_event("crash"):
            cdp = await context.new_cdp_session(page)
            pending = asyncio.ensure_future(cdp.send("Page.crash"))  # never answered
        pending.cancel()
        crashed = await _raised(page.content())
        closed_page = await context.new_page()
    closed = await _raised(closed_page.goto(site_url))

    assert classify(crashed)[:2] == (TRANSIENT, "Page.content: Target crashed")
    category, message, _ = classify(closed)
    assert category is TRANSIENT
    assert "has been closed" in message


# --- the batchwright errors and the watchdog -----------------------------------------


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (HttpStatusError(503, "http://x/a"), (TRANSIENT, "HTTP 503 from http://x/a", None)),
        (HttpStatusError(500, "http://x/a", 9.0), (TRANSIENT, "HTTP 500 from http://x/a", None)),
        (
            HttpStatusError(429, "http://x/a", 7.0),
            (ErrorCategory.RATE_LIMIT, "HTTP 429 from http://x/a", 7.0),
        ),
        (
            HttpStatusError(429, "http://x/a"),
            (ErrorCategory.RATE_LIMIT, "HTTP 429 from http://x/a", None),
        ),
        (HttpStatusError(404, "http://x/a"), (BUSINESS, "HTTP 404 from http://x/a", None)),
        (BusinessError("Email is invalid"), (BUSINESS, "Email is invalid", None)),
        (AssertionError("total is 3, expected 4"), (BUSINESS, "total is 3, expected 4", None)),
        (AssertionError(), (BUSINESS, "an expectation failed", None)),
        (
            ConfigurationError("missing column 'email'"),
            (ErrorCategory.CONFIGURATION, "missing column 'email'", None),
        ),
        (
            FlowError("flow.yaml", ["step 2: unknown action 'clik'"]),
            (
                ErrorCategory.CONFIGURATION,
                "invalid flow flow.yaml:; - step 2: unknown action 'clik'",
                None,
            ),
        ),
        (
            TimeoutError("job exceeded its 60 s timeout"),
            (TRANSIENT, "job exceeded its 60 s timeout", None),
        ),
        (TimeoutError(), (TRANSIENT, "the job timed out", None)),
        (ValueError("bad literal"), (ErrorCategory.UNKNOWN, "ValueError: bad literal", None)),
        (KeyError("email"), (ErrorCategory.UNKNOWN, "KeyError: 'email'", None)),
        (RuntimeError(), (ErrorCategory.UNKNOWN, "RuntimeError", None)),
    ],
)
def test_mapping(exc: BaseException, expected: tuple[ErrorCategory, str, float | None]) -> None:
    assert classify(exc) == expected


def test_browser_not_found_is_a_configuration_error() -> None:
    category, message, _ = classify(BrowserNotFoundError("no Chromium found\nInstall one"))
    assert category is ErrorCategory.CONFIGURATION
    assert message == "no Chromium found; Install one"


def test_clean_message_cuts_call_logs_and_bounds_length() -> None:
    playwright_style = (
        "Page.goto: net::ERR_NAME_NOT_RESOLVED at http://nowhere/\n"
        'Call log:\n  - navigating to "http://nowhere/", waiting until "load"\n'
    )
    assert clean_message(playwright_style) == (
        "Page.goto: net::ERR_NAME_NOT_RESOLVED at http://nowhere/"
    )
    long = clean_message("word " * 500)
    assert len(long) == MAX_MESSAGE_CHARS
    assert long.endswith("…")
    assert clean_message("  spaced\t out \n\n second line ") == "spaced out; second line"
