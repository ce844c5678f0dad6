"""Where each attempt runs: a browser context and a page, under the ``isolation`` setting.

- ``context``: a new context per attempt, closed after it. Nothing is shared.
- ``recycled``: a pool of contexts, each with its page. Between rows the page's
  session storage is cleared, it goes to about:blank and forgets its history, other
  pages (popups) are closed, and cookies, permissions and every visited origin's
  storage (local storage, IndexedDB, cache storage, service workers) are wiped. A
  context is replaced after ``recycle_context_every`` rows. Keeping the page (and its
  renderer) and the HTTP cache is the speed-up.
- ``page``: one page per worker, reused as is (popups a row opened are closed); only
  the flow's own navigation separates rows. For read-only flows that do not depend
  on state.

A kept page (``recycled``, ``page``) has its JavaScript garbage collected after each
row, or its renderer's memory grows row after row.

A failed attempt never hands its context on: it is closed, and the next row gets a
fresh one. A retry (``fresh=True``) always runs in a new, unpooled context.
Measurements and when each level is safe: docs/performance.md.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, CDPSession, Frame, Page
from playwright.async_api import Error as PlaywrightError

from runtime.browser import BrowserManager, ContextHandle
from runtime.evidence.page_log import PageLog
from runtime.settings import Isolation

__all__ = ["ContextPool", "JobSession"]


@dataclass(eq=False)
class JobSession:
    """The context and page one attempt runs in. ``discard()`` keeps them from reuse."""

    context: BrowserContext
    handle: ContextHandle
    page: Page = field(init=False)
    log: PageLog = field(init=False)
    """What the page logged during the current row."""
    rows: int = 1
    origins: set[str] = field(default_factory=set)
    """Origins the page's frames visited since the last wipe (``recycled``)."""
    discarded: bool = False
    _cdp: CDPSession | None = None

    def discard(self) -> None:
        """Never reuse this context (its attempt failed, so its state is unknown)."""
        self.discarded = True

    async def devtools(self) -> CDPSession:
        """The page's DevTools session, opened on first use and kept with the page."""
        if self._cdp is None:
            self._cdp = await self.context.new_cdp_session(self.page)
        return self._cdp

    def _note_origin(self, frame: Frame) -> None:
        origin = _origin(frame.url)
        if origin:
            self.origins.add(origin)


def _origin(url: str) -> str | None:
    """``scheme://host:port`` of an http(s) URL; None for about:, data:, blob: ..."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else None


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
        self.pages_opened = 0
        """Pages created so far (``recycled`` keeps one per context when it can)."""

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
        session.log.start_row()
        try:
            yield session
        except BaseException:
            session.discard()
            raise
        finally:
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
            await self._new_page(session)
        except BaseException:
            await self.browser.close_context(handle)
            raise
        self.contexts_opened += 1
        return session

    async def _new_page(self, session: JobSession) -> None:
        """Open the session's page; its listeners stay for the page's life (adding and
        removing them per row would cost round trips to the browser)."""
        page = await session.context.new_page()
        self.pages_opened += 1
        session.page, session.log, session._cdp = page, PageLog(), None
        session.log.watch(page)
        if self.isolation == "recycled":
            page.on("framenavigated", session._note_origin)

    async def _take(self) -> JobSession:
        while self._idle:
            session = self._idle.pop()
            if session.rows < self.recycle_every and await self.browser.reuse(session.handle):
                session.rows += 1
                if session.page.is_closed():  # the wipe could not keep it
                    await self._new_page(session)
                return session
            await self._close(session)
        return await self._open()

    async def _give_back(self, session: JobSession) -> None:
        try:
            for other in session.context.pages:
                if other is not session.page:
                    await other.close()  # popups the row opened
            if self.isolation == "recycled":
                await _wipe(session)
            else:
                await (await session.devtools()).send(_COLLECT_GARBAGE)
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


_WIPE_NAVIGATION_MS = 5000.0

_COLLECT_GARBAGE = "HeapProfiler.collectGarbage"
"""A kept page's renderer does not collect what earlier rows' documents left: V8 waits
for idle time a busy batch never gives it. On the demo form its memory grew by about
2.4 MB a row (110 MB to 470 MB over 150 rows); a full collection after each row keeps
it near 115 MB (docs/performance.md)."""


async def _wipe(session: JobSession) -> None:
    """Leave nothing of a row in its context (``recycled``).

    Session storage and the window name belong to the tab, and session storage can only
    be cleared from a frame showing its origin: when every origin the row visited is
    still shown, both are cleared there and the page is kept; otherwise the page is
    closed and a new one opened for the next row. The page leaves for about:blank
    before storage is wiped, so no document of the row can write it again.
    """
    page, context = session.page, session.context
    shown = {_origin(frame.url): frame for frame in page.frames}
    keep_page = session.origins <= shown.keys()
    if keep_page:
        main_origin = _origin(page.main_frame.url)
        frames = [page.main_frame]  # window.name outlives navigations
        frames += [shown[origin] for origin in session.origins - {main_origin}]
        await _together(*(frame.evaluate(_FORGET_ROW) for frame in frames))
    await page.goto("about:blank", timeout=_WIPE_NAVIGATION_MS)
    cdp = await session.devtools()
    wipes: list[Awaitable[object]] = [
        cdp.send("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"})
        for origin in session.origins
    ]
    session.origins.clear()
    if keep_page:
        wipes += [cdp.send("Page.resetNavigationHistory"), cdp.send(_COLLECT_GARBAGE)]
    await _together(*wipes, context.clear_cookies(), context.clear_permissions())
    if not keep_page:
        await page.close()  # only now: closing it ends the CDP session the wipes use


async def _together(*calls: Awaitable[object]) -> None:
    """Send independent calls to the browser at once: one round trip instead of many.

    Every call is awaited to the end (none is left running against a context about to be
    reused); the first failure is then raised.
    """
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


_FORGET_ROW = "() => { window.name = ''; try { sessionStorage.clear(); } catch (e) {} }"
"""A frame's session storage and window name (sandboxed frames throw on storage)."""
