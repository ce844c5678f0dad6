"""What a page said while a row ran: console messages, uncaught page errors and failed
requests, kept in memory and written only when an attempt fails (``console.log``).

A ``PageLog`` listens for the whole life of its page. Subscribing to console and
request events is a round trip to the browser each way, so it is done once per page
rather than once per row; a pooled page starts each row with ``start_row()``.
"""

from __future__ import annotations

import time
from collections import deque

from playwright.async_api import ConsoleMessage, Page, Request

__all__ = ["CONSOLE_MAX_LINES", "PageLog"]

CONSOLE_MAX_LINES = 1000
"""Console, page-error and failed-request lines kept per row (the newest)."""


class PageLog:
    """The newest ``max_lines`` lines of one page since the current row started."""

    def __init__(self, max_lines: int = CONSOLE_MAX_LINES) -> None:
        self._lines: deque[str] = deque(maxlen=max_lines)
        self._started = time.monotonic()

    def watch(self, page: Page) -> None:
        """Listen to ``page`` for as long as it lives."""
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self._add("pageerror", str(error)))
        page.on("requestfailed", self._on_request_failed)

    def start_row(self) -> None:
        """Forget what earlier rows logged; times are from now on."""
        self._lines.clear()
        self._started = time.monotonic()

    @property
    def lines(self) -> list[str]:
        return list(self._lines)

    def _on_console(self, message: ConsoleMessage) -> None:
        location = message.location
        where = f" ({location['url']}:{location['lineNumber']})" if location.get("url") else ""
        self._add(f"console.{message.type}", f"{message.text}{where}")

    def _on_request_failed(self, request: Request) -> None:
        self._add("requestfailed", f"{request.method} {request.url}: {request.failure}")

    def _add(self, kind: str, text: str) -> None:
        self._lines.append(f"{time.monotonic() - self._started:9.3f}s [{kind}] {text}")
