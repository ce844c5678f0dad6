"""Errors the runtime raises. The full tree is documented in ``batch.exceptions``.

The runtime never imports ``batch`` (see docs/architecture.md), so the root of the
tree and the errors the runtime itself raises live here; ``batch.exceptions``
re-exports them and adds the batch-side ones.
"""

from __future__ import annotations

__all__ = [
    "BatchEngineError",
    "BrowserNotFoundError",
    "BusinessError",
    "ConfigurationError",
    "FlowError",
    "HttpStatusError",
]


class BatchEngineError(Exception):
    """Root of every error batchwright raises on purpose."""


class ConfigurationError(BatchEngineError):
    """A setting, flow or command line is wrong; nothing has run yet."""


class FlowError(ConfigurationError):
    """A flow file is invalid. ``problems`` lists every problem, one per line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid flow {source}:\n{lines}")


class BrowserNotFoundError(ConfigurationError):
    """No Chromium could be found or launched."""


class BusinessError(BatchEngineError):
    """The application rejected the row, or an expectation failed: never retried.

    Python flows raise it through ``ctx.fail(message)``.
    """


class HttpStatusError(BatchEngineError):
    """A navigation answered with an HTTP error status (5xx, 429, ...).

    The retry policy reads ``status`` (5xx transient, 429 rate limited) and
    ``retry_after_s`` (the server's Retry-After, in seconds).
    """

    def __init__(self, status: int, url: str, retry_after_s: float | None = None) -> None:
        self.status = status
        self.url = url
        self.retry_after_s = retry_after_s
        super().__init__(f"HTTP {status} from {url}")
