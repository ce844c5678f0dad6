"""Finding and launching Chromium: one browser per run, one fresh context per job.

The browser is relaunched after ``browser_recycle_jobs`` jobs (to bound its memory)
and after it crashed. Relaunching never interrupts a running job: jobs keep the
browser they started on, and a retired browser is closed when its last job ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from playwright.async_api import Browser, BrowserContext, Playwright
from playwright.async_api import Error as PlaywrightError

from runtime.browser.discovery import HOW_TO_GET_ONE, find_chromium, launch_args
from runtime.browser.driver_session import start_playwright
from runtime.browser.memory import chromium_tree_rss_bytes
from runtime.errors import BrowserNotFoundError
from runtime.settings import RuntimeSettings

__all__ = ["CONTEXT_DEFAULTS", "MEMORY_CHECK_EVERY", "BrowserManager", "ContextHandle"]

logger = logging.getLogger("batchwright.browser")

_CHROMIUM_LOG_PREFIX = re.compile(r"^\[[^\]]*\]\s*")
"""Chromium's ``[1123/154913.6:ERROR:zygote_host_impl_linux.cc:103]`` before a log line."""

CONTEXT_DEFAULTS: dict[str, Any] = {
    "viewport": {"width": 1280, "height": 720},
    "ignore_https_errors": False,
    "accept_downloads": True,
}
"""Options of every job's context; ``new_context(**kwargs)`` overrides them."""

_CLOSE_TIMEOUT_S = 10.0
"""A context or browser that does not close within this is abandoned, not waited on."""
MEMORY_CHECK_EVERY = 20
"""Jobs between two looks at Chromium's memory (a process-tree scan takes milliseconds)."""


@dataclass(eq=False)
class _Generation:
    """One launched browser and the jobs it runs; retired ones close when idle."""

    browser: Browser
    number: int
    jobs: int = 0
    open_contexts: int = 0
    retired: bool = False


@dataclass(eq=False)
class ContextHandle:
    """A context and the browser generation that owns it (kept open until it closes)."""

    context: BrowserContext
    generation: _Generation


class BrowserManager:
    """Owns Playwright and the current browser; hands out one fresh context per job.

    ``executable`` is the Chromium in use, ``jobs_started`` and ``launches`` count
    contexts handed out and browsers launched (recycles and crash relaunches included).
    """

    def __init__(self, settings: RuntimeSettings, *, sandbox: bool | None = None) -> None:
        self.settings = settings
        self.executable: Path = find_chromium(settings)
        self.sandbox = os.geteuid() != 0 if sandbox is None else sandbox
        """Chromium's sandbox: on unless root; dropped (with a warning) if it cannot start."""
        self.jobs_started = 0
        self.launches = 0
        self._playwright: Playwright | None = None
        self._current: _Generation | None = None
        self._retired: set[_Generation] = set()
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> BrowserManager:
        self._playwright = await start_playwright()
        try:
            async with self._lock:
                self._current = await self._launch()
        except BaseException:
            await self._playwright.stop()
            self._playwright = None
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        generations = [*self._retired, *([self._current] if self._current else [])]
        self._current = None
        self._retired.clear()
        for generation in generations:
            generation.retired = True
            await _close_quietly(generation.browser.close())
        if self._playwright is not None:
            await self._playwright.stop()
            self._playwright = None

    @property
    def browser(self) -> Browser:
        """The browser new jobs start on (it may be retired at the next ``new_context``)."""
        if self._current is None:
            raise RuntimeError("BrowserManager is not started: use `async with manager:`")
        return self._current.browser

    @contextlib.asynccontextmanager
    async def new_context(self, **kwargs: Any) -> AsyncIterator[BrowserContext]:
        """A fresh context (own cookies and storage) for one job, always closed after it.

        Errors inside the job propagate unchanged; closing never adds one.
        """
        handle = await self.open_context(**kwargs)
        try:
            yield handle.context
        finally:
            await self.close_context(handle)

    async def open_context(self, **kwargs: Any) -> ContextHandle:
        """A fresh context that counts as one job; the caller must ``close_context`` it.

        For pools that keep a context across jobs (``reuse`` counts the later ones).
        """
        generation = await self._acquire()
        try:
            context = await generation.browser.new_context(**(CONTEXT_DEFAULTS | kwargs))
        except BaseException:
            await self._release(generation)
            raise
        return ContextHandle(context, generation)

    async def reuse(self, handle: ContextHandle) -> bool:
        """Count one more job on a pooled context; False when it must be replaced instead
        (its browser is retired, disconnected or due for recycling)."""
        async with self._lock:
            generation = handle.generation
            limit = self.settings.browser_recycle_jobs
            if (
                generation is not self._current
                or not generation.browser.is_connected()
                or (limit and generation.jobs >= limit)
            ):
                return False
            generation.jobs += 1
            self.jobs_started += 1
            return True

    async def close_context(self, handle: ContextHandle) -> None:
        """Close a context from ``open_context``; never raises."""
        try:
            await _close_quietly(handle.context.close())
        finally:
            await self._release(handle.generation)

    async def _acquire(self) -> _Generation:
        async with self._lock:
            current = self._current
            if current is None:
                raise RuntimeError("BrowserManager is not started: use `async with manager:`")
            limit = self.settings.browser_recycle_jobs
            if not current.browser.is_connected():
                logger.warning("browser %d disconnected; relaunching", current.number)
                current = await self._replace(current)
            elif limit and current.jobs >= limit:
                logger.info("browser %d ran %d jobs; recycling", current.number, current.jobs)
                current = await self._replace(current)
            elif self._over_memory(current):
                logger.info("browser %d passed its memory limit; recycling", current.number)
                current = await self._replace(current)
            current.jobs += 1
            current.open_contexts += 1
            self.jobs_started += 1
            return current

    async def _release(self, generation: _Generation) -> None:
        generation.open_contexts -= 1
        if generation.retired and generation.open_contexts == 0:
            self._retired.discard(generation)
            await _close_quietly(generation.browser.close())

    def _over_memory(self, generation: _Generation) -> bool:
        """Every ``MEMORY_CHECK_EVERY`` jobs: do our Chromium processes exceed the limit?"""
        limit_mb = self.settings.browser_recycle_memory_mb
        if not limit_mb or not generation.jobs or generation.jobs % MEMORY_CHECK_EVERY:
            return False
        return chromium_tree_rss_bytes() > limit_mb * 1024 * 1024

    async def _replace(self, old: _Generation) -> _Generation:
        """Retire ``old`` (closed now if idle, else by its last job) and launch anew."""
        old.retired = True
        if old.open_contexts == 0:
            await _close_quietly(old.browser.close())
        else:
            self._retired.add(old)
        self._current = await self._launch()
        return self._current

    async def _launch(self) -> _Generation:
        try:
            browser = await self._start_browser()
        except PlaywrightError as exc:
            if not self.sandbox:
                raise self._launch_error(exc) from exc
            # Containers and CI runners often forbid the user namespaces the sandbox needs.
            logger.warning(
                "Chromium would not start with its sandbox (%s); running without it",
                _launch_problem(exc),
            )
            self.sandbox = False
            try:
                browser = await self._start_browser()
            except PlaywrightError as retry_exc:
                raise self._launch_error(retry_exc) from retry_exc
        self.launches += 1
        generation = _Generation(browser=browser, number=self.launches)
        browser.on("disconnected", lambda _: _log_disconnect(generation))
        logger.info(
            "launched browser %d: %s %s (%s%s)",
            generation.number,
            self.executable,
            browser.version,
            "headless" if self.settings.headless else "headed",
            "" if self.sandbox else ", no sandbox",
        )
        return generation

    async def _start_browser(self) -> Browser:
        assert self._playwright is not None
        headless = self.settings.headless
        return await self._playwright.chromium.launch(
            executable_path=self.executable,
            headless=headless,
            chromium_sandbox=self.sandbox,
            args=launch_args(headless, sandbox=self.sandbox),
        )

    def _launch_error(self, exc: PlaywrightError) -> BrowserNotFoundError:
        return BrowserNotFoundError(
            f"could not launch Chromium at {self.executable}: {_launch_problem(exc)}\n"
            + HOW_TO_GET_ONE
        )


def _launch_problem(exc: PlaywrightError) -> str:
    """Playwright's first line plus what Chromium printed on stderr (its real reason)."""
    lines = str(exc).strip().splitlines() or [repr(exc)]
    stderr = [
        _CHROMIUM_LOG_PREFIX.sub("", line.split("[err]", 1)[1].strip())
        for line in lines[1:]
        if "[err]" in line
    ]
    reasons = [reason for reason in dict.fromkeys(stderr) if reason]
    return "; ".join([lines[0], *reasons[:3]])


def _log_disconnect(generation: _Generation) -> None:
    if not generation.retired:
        logger.warning(
            "browser %d disconnected (crashed or killed); the next job relaunches it",
            generation.number,
        )


async def _close_quietly(closing: Awaitable[object]) -> None:
    """Await a ``close()``; a crashed or hung browser must not turn into a new error."""
    with contextlib.suppress(PlaywrightError, TimeoutError):
        await asyncio.wait_for(closing, timeout=_CLOSE_TIMEOUT_S)
