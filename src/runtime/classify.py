"""Mapping an exception from an attempt to an error category and a short message.

The category decides whether the attempt is retried (docs/errors.md); the message
is what reports show, so Playwright's long "Call log:" tails are cut off.
"""

from __future__ import annotations

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from runtime.errors import BusinessError, ConfigurationError, HttpStatusError
from runtime.outcome import ErrorCategory

__all__ = ["MAX_MESSAGE_CHARS", "classify", "clean_message"]

MAX_MESSAGE_CHARS = 300

_TRANSIENT_MARKERS = (
    "net::ERR_",
    "Target page, context or browser has been closed",
    "Target closed",
    "Target crashed",
    "Page crashed",
    "Browser has been closed",
    "Connection closed",
)
"""Playwright messages of network failures and crashed or closed browsers: worth a retry."""


def clean_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """One line: the text before Playwright's "Call log:", whitespace collapsed, bounded."""
    head = text.split("Call log:", 1)[0]
    line = "; ".join(" ".join(part.split()) for part in head.splitlines() if part.strip())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def classify(exc: BaseException) -> tuple[ErrorCategory, str, float | None]:
    """``(category, message, retry_after_s)`` for an attempt that raised ``exc``.

    Pure: no I/O, so the retry policy and the reports agree on every error.
    """
    message = clean_message(str(exc))
    if isinstance(exc, HttpStatusError):
        return _http_category(exc.status), message, exc.retry_after_s if exc.status == 429 else None
    return _category(exc), _describe(exc, message), None


def _category(exc: BaseException) -> ErrorCategory:
    if isinstance(exc, PlaywrightTimeoutError):
        return ErrorCategory.TRANSIENT
    if isinstance(exc, PlaywrightError):
        transient = any(marker in str(exc) for marker in _TRANSIENT_MARKERS)
        return ErrorCategory.TRANSIENT if transient else ErrorCategory.UNKNOWN
    if isinstance(exc, BusinessError | AssertionError):
        return ErrorCategory.BUSINESS
    if isinstance(exc, ConfigurationError):
        return ErrorCategory.CONFIGURATION
    if isinstance(exc, TimeoutError):  # asyncio's: the per-job watchdog
        return ErrorCategory.TRANSIENT
    return ErrorCategory.UNKNOWN


def _http_category(status: int) -> ErrorCategory:
    if status == 429:
        return ErrorCategory.RATE_LIMIT
    return ErrorCategory.TRANSIENT if status >= 500 else ErrorCategory.BUSINESS


def _describe(exc: BaseException, message: str) -> str:
    """Our own errors speak for themselves; anything else is named by its type."""
    if isinstance(exc, PlaywrightTimeoutError | BusinessError | ConfigurationError):
        return message
    if isinstance(exc, PlaywrightError) and _category(exc) is ErrorCategory.TRANSIENT:
        return message
    if isinstance(exc, AssertionError):
        return message or "an expectation failed"
    if isinstance(exc, TimeoutError):
        return message or "the job timed out"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
