"""``FlowContext``: what a running flow may know and do besides driving the page.

The attempt runner builds one per attempt and injects the two side effects that
belong to it (capturing a screenshot as an artifact, durably recording the point
of no return), so flows and steps stay free of storage and artifact naming.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NoReturn

from runtime.errors import BusinessError, ConfigurationError
from runtime.outcome import Artifact

__all__ = ["CommitFn", "FlowContext", "ScreenshotFn"]

ScreenshotFn = Callable[[str], Awaitable[Artifact]]
"""Captures the page under a name and returns the artifact."""
CommitFn = Callable[[], Awaitable[None]]
"""Durably records that the job passed its point of no return."""


@dataclass(frozen=True)
class FlowContext:
    """One attempt of one row, as seen by a flow (declarative steps or Python)."""

    job_id: str
    batch_id: str
    row_index: int
    attempt: int
    logger: logging.Logger | logging.LoggerAdapter[Any]
    screenshot_fn: ScreenshotFn
    commit_fn: CommitFn
    extracted: dict[str, str] = field(default_factory=dict)
    """Values the flow extracted so far; the attempt's outcome reports them."""
    base_url: str | None = None
    """The effective base URL (``--base-url`` over the flow's); set by ``run_flow``."""
    pool: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))
    """The entry leased for this attempt from each pool: ``ctx.pool["account"]["username"]``."""
    pool_failures: set[str] = field(default_factory=set)
    """Pools whose entry this attempt found unusable; the attempt's outcome reports them."""

    async def screenshot(self, name: str) -> Artifact:
        """Capture the page now, e.g. as evidence of what was submitted."""
        return await self.screenshot_fn(name)

    async def mark_commit(self) -> None:
        """Call right before the action that must never be repeated (the submit)."""
        await self.commit_fn()

    def pool_failed(self, name: str) -> None:
        """The leased entry of pool ``name`` is unusable (a locked account, say): it is
        taken out of the pool for the rest of the batch. The row's own result is
        whatever the flow does next (usually ``ctx.fail(...)``)."""
        if name not in self.pool:
            declared = ", ".join(map(repr, self.pool)) or "none"
            raise ConfigurationError(
                f"ctx.pool_failed({name!r}): no such pool leased (the flow's pools: {declared})"
            )
        self.pool_failures.add(name)

    def fail(self, message: str) -> NoReturn:
        """Reject the row: a business failure, reported and never retried."""
        raise BusinessError(message)
