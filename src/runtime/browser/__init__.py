"""Chromium for a runtime host: finding it, launching it, contexts and pools, memory."""

from runtime.browser.discovery import default_playwright_dirs, find_chromium, launch_args
from runtime.browser.manager import (
    CONTEXT_DEFAULTS,
    MEMORY_CHECK_EVERY,
    BrowserManager,
    ContextHandle,
)
from runtime.browser.memory import chromium_tree_rss_bytes, tree_rss_bytes

__all__ = [
    "CONTEXT_DEFAULTS",
    "MEMORY_CHECK_EVERY",
    "BrowserManager",
    "ContextHandle",
    "chromium_tree_rss_bytes",
    "default_playwright_dirs",
    "find_chromium",
    "launch_args",
    "tree_rss_bytes",
]
