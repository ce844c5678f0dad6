"""Shared fixtures: the local test site (the demo app plus failure endpoints),
settings rooted in a temporary directory, and a real Chromium.

pytest-playwright's fixtures are sync and clash with a running event loop, so the
browser fixtures here are async (pytest-asyncio, ``asyncio_mode = auto``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import demo_site
import pytest
import site_routes
from chromium import launch_options
from pg_server import PgServer, find_bin_dir
from playwright.async_api import Browser, async_playwright

from batch.engine import BatchEngine
from batch.settings import BatchSettings, load_settings
from runtime.browser import BrowserManager
from runtime.run_context import RunContext


@pytest.fixture(scope="session")
def site() -> Iterator[Any]:
    """The demo app plus the test-only failure endpoints, on 127.0.0.1."""
    server = demo_site.DemoServer(routes=site_routes.ROUTES)
    server.start_in_thread()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server of the session's own (as an unprivileged user, 127.0.0.1 only)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (scripts/setup installs it)")
    server = PgServer(bin_dir)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """The URL of an empty PostgreSQL store of this test's own, dropped afterwards."""
    url = pg_server.new_schema()
    yield url
    pg_server.drop_schema(url)


@pytest.fixture
def site_url(site: Any) -> str:
    """The site's base URL, with its recorded state cleared for this test."""
    with site.state.lock:
        site.state.customers.clear()
        site.state.hits.clear()
    return str(site.url)


@pytest.fixture
def make_settings(tmp_path: Path) -> Any:
    """Build settings rooted in tmp_path (base_dir and artifacts), without .env or env vars."""

    def make(**overrides: Any) -> BatchSettings:
        values: dict[str, Any] = {
            "base_dir": tmp_path,
            "artifacts_dir": tmp_path / "artifacts",
            "retry_delay": 0.0,
            "jitter": 0.0,
        }
        return load_settings(values | overrides, read_env=False)

    return make


@pytest.fixture
def settings(make_settings: Any) -> BatchSettings:
    result: BatchSettings = make_settings()
    return result


async def no_sleep(seconds: float) -> None:
    """Retries, rate limits and delays never wait for real in tests."""


@pytest.fixture
def make_engine(make_settings: Any, site_url: str) -> Iterator[Callable[..., BatchEngine]]:
    """Engines on tmp_path's store, aimed at the local site, with waits skipped."""
    engines: list[BatchEngine] = []

    def make(**overrides: Any) -> BatchEngine:
        defaults = {"base_url": site_url, "concurrency": 2, "step_timeout_s": 5.0}
        settings = make_settings(**(defaults | overrides))
        engine = BatchEngine(RunContext(settings=settings), sleep=no_sleep)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


@pytest.fixture
async def browser_manager(settings: BatchSettings) -> AsyncIterator[Any]:
    """A launched ``BrowserManager`` (real Chromium), closed after the test."""
    async with BrowserManager(settings) as manager:
        yield manager


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A bare Chromium (the product's discovery and flags) for driving pages in tests."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(**launch_options())
        yield launched
        await launched.close()
