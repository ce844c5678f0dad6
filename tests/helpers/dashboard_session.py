"""Signing a fresh Chromium context in to the dashboard of a real server, as a person
does: the sign-in page's form, then the batches page."""

from __future__ import annotations

from playwright.async_api import Browser, expect
from service_server import ServiceProcess
from watched_page import Watched

__all__ = ["signed_in"]


async def signed_in(browser: Browser, service: ServiceProcess, key: str) -> Watched:
    """A page of a fresh browser context, signed in through the sign-in page."""
    context = await browser.new_context(base_url=service.base_url)
    watched = Watched(await context.new_page())
    page = watched.page
    await page.goto("/")
    await expect(page).to_have_url(f"{service.base_url}/sign-in")
    await page.fill("#api-key", key)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{service.base_url}/")
    await expect(page.locator("h1")).to_have_text("Batches")
    return watched
