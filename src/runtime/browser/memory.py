"""Resident memory of a process tree: the browser's recycling, the adaptive limiter and
the benchmarks all measure memory this one way."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import psutil

__all__ = ["chromium_tree_rss_bytes", "tree_rss_bytes"]


def tree_rss_bytes(
    root: psutil.Process | None = None, *, keep: Callable[[psutil.Process], bool] | None = None
) -> int:
    """Resident memory of ``root`` (this process by default) and all its descendants, or
    of those ``keep`` accepts. Processes that exit meanwhile count as nothing."""
    root = root or psutil.Process()
    try:
        members = [root, *root.children(recursive=True)]
    except psutil.Error:  # the root itself is gone
        return 0
    total = 0
    for process in members:
        with contextlib.suppress(psutil.Error):  # renderers come and go
            if keep is None or keep(process):
                total += process.memory_info().rss
    return total


def _is_chromium(process: psutil.Process) -> bool:
    name = process.name()
    return "chrom" in name or "headless" in name


def chromium_tree_rss_bytes(root: psutil.Process | None = None) -> int:
    """Resident memory of the Chromium processes this process started (via Playwright)."""
    return tree_rss_bytes(root, keep=_is_chromium)
