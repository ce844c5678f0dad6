"""How tests launch a bare Playwright Chromium (without a ``BrowserManager``): the
product's own discovery and flags, so they run the browser users get, wherever it is."""

from __future__ import annotations

from typing import Any

from runtime.browser import find_chromium, launch_args
from runtime.settings import load_settings

__all__ = ["launch_options"]


def launch_options() -> dict[str, Any]:
    """``executable_path`` and ``args`` for ``playwright.chromium.launch`` (headless)."""
    settings = load_settings({}, read_env=False)
    return {
        "executable_path": str(find_chromium(settings)),
        "args": launch_args(settings.headless),
    }
