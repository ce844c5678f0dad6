"""Where each attempt runs: a browser context and a page, under the ``isolation`` setting.

- ``context``: a new context per attempt, closed after it. Nothing is shared.
- ``recycled``: a pool of contexts. Between rows the page is closed, and cookies,
  permissions and every origin's storage (local/session storage, IndexedDB, cache
  storage, service workers) are wiped. A context is replaced after
  ``recycle_context_every`` rows. The HTTP cache is kept: that is the speed-up.
- ``page``: one page per worker, reused as is; only the flow's own navigation
  separates rows. For read-only flows that do not depend on state.

A failed attempt never hands its context on: it is closed, and the next row gets a
fresh one. A retry (``fresh=True``) always runs in a new, unpooled context.
Measurements and when each level is safe: docs/performance.md.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Frame, Page
from playwright.async_api import Error as PlaywrightError

from runtime.browser import BrowserManager, ContextHandle
from runtime.settings import Isolation

__all__ = ["ContextPool", "JobSession"]


@dataclass(eq=False)
class JobSession:
    """The context and page one attempt runs in. ``discard()`` keeps them from reuse."""

    context: BrowserContext
    handle: ContextHandle
    page: Page = field(init=False)
    rows: int = 1
    origins: set[str] = field(default_factory=set)
    discarded: bool = False
    _listeners: list[tuple[str, Callable[..., Any]]] = field(default_factory=list)

    def discard(self) -> None:
        """Never reuse this context (its attempt failed, so its state is unknown)."""
        self.discarded = True

    def on(self, event: str, handler: Callable[..., Any]) -> None:
        """``page.on`` for listeners that belong to one row; removed when it ends."""
        self.page.on(event, handler)  # type: ignore[call-overload]  # event names are checked by Playwright's overloads
        self._listeners.append((event, handler))

    def _end_row(self) -> None:
        for event, handler in self._listeners:
            self.page.remove_listener(event, handler)
        self._listeners.clear()

    def _note_origin(self, frame: Frame) -> None:
        parts = urlsplit(frame.url)
        if parts.scheme in ("http", "https"):
            self.origins.add(f"{parts.scheme}://{parts.netloc}")


SESSION_OPEN_TIMEOUT_S = 20.0
"""Opening a context and page takes milliseconds; a browser killed meanwhile can leave
``new_page()`` pending forever. Past this, the attempt fails as transient and is retried
on a relaunched browser."""


class ContextPool:
    """Hands out a ``JobSession`` per attempt according to the isolation level."""

    def __init__(self, browser: BrowserManager, isolation: Isolation, recycle_every: int) -> None:
        self.browser = browser
        self.isolation = isolation
        self.recycle_every = recycle_every
        self._idle: list[JobSession] = []
        self.contexts_opened = 0
        """Contexts created so far (for tests and the benchmark)."""

    @contextlib.asynccontextmanager
    async def session(self, *, fresh: bool = False) -> AsyncIterator[JobSession]:
        """A session for one attempt; reused afterwards only if it ended cleanly."""
        pooled = self.isolation != "context" and not fresh
        try:
            session = await asyncio.wait_for(
                self._take() if pooled else self._open(), SESSION_OPEN_TIMEOUT_S
            )
        except TimeoutError:
            raise TimeoutError(
                f"the browser did not open a page within {SESSION_OPEN_TIMEOUT_S:g} s"
            ) from None
        try:
            yield session
        except BaseException:
            session.discard()
            raise
        finally:
            session._end_row()
            if pooled and not session.discarded:
                await self._give_back(session)
            else:
                await self._close(session)

    async def close(self) -> None:
        """Close every idle pooled context."""
        idle, self._idle = self._idle, []
        for session in idle:
            await self.browser.close_context(session.handle)

    async def _open(self) -> JobSession:
        handle = await self.browser.open_context()
        session = JobSession(handle.context, handle)
        try:
            session.page = await self._new_page(handle.context, session)
        except BaseException:
            await self.browser.close_context(handle)
            raise
        self.contexts_opened += 1
        return session

    async def _new_page(self, context: BrowserContext, session: JobSession) -> Page:
        page = await context.new_page()
        if self.isolation == "recycled":
            page.on("framenavigated", session._note_origin)
        return page

    async def _take(self) -> JobSession:
        while self._idle:
            session = self._idle.pop()
            if session.rows < self.recycle_every and await self.browser.reuse(session.handle):
                session.rows += 1
                if session.page.is_closed():  # recycled: a fresh page per row
                    session.page = await self._new_page(session.context, session)
                return session
            await self._close(session)
        return await self._open()

    async def _give_back(self, session: JobSession) -> None:
        try:
            if self.isolation == "recycled":
                await _wipe(session)
        except PlaywrightError:
            await self._close(session)
            return
        self._idle.append(session)
        # Contexts on a retired browser would keep it alive: close them now.
        for stale in [s for s in self._idle if s.handle.generation.retired]:
            self._idle.remove(stale)
            await self._close(stale)

    async def _close(self, session: JobSession) -> None:
        await self.browser.close_context(session.handle)


async def _wipe(session: JobSession) -> None:
    """Leave nothing of a row in its context: storage of every origin it visited (through
    the DevTools protocol, before the page closes), the page itself (and with it its
    session storage), then cookies and permissions."""
    page, context = session.page, session.context
    if session.origins:
        cdp = await context.new_cdp_session(page)
        for origin in session.origins:
            await cdp.send("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"})
        await cdp.detach()
        session.origins.clear()
    await page.close()
    await context.clear_cookies()
    await context.clear_permissions()
