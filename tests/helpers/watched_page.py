"""A Playwright page that records what a test of untrusted values must not see: a
dialog (a script in a value ran) or a console error (a CSP refusal, a JS error)."""

from __future__ import annotations

from playwright.async_api import ConsoleMessage, Dialog, Page

__all__ = ["Watched"]


class Watched:
    """A page recording dialogs and console errors (with where they came from)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._on_dialog)
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    async def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} ({message.location.get('url')})")
