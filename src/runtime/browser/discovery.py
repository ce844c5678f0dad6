"""Finding Chromium and the flags to launch it with.

Order: ``browser_path``, then Playwright's own download, then a system Chromium
(a headless shell first for headless runs: several times faster per context).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import playwright

from runtime.errors import BrowserNotFoundError
from runtime.settings import RuntimeSettings

__all__ = ["HOW_TO_GET_ONE", "default_playwright_dirs", "find_chromium", "launch_args"]

# Playwright's download layout, newest first (1.57+: Chrome for Testing names).
_PLAYWRIGHT_HEADLESS_SHELL = (
    "chromium_headless_shell-*/chrome-headless-shell-*/chrome-headless-shell",
    "chromium_headless_shell-*/chrome-*/headless_shell",
)
_PLAYWRIGHT_CHROMIUM = ("chromium-*/chrome-linux*/chrome",)
_SYSTEM_HEADLESS_SHELL = ("chromium-headless-shell",)
_SYSTEM_CHROMIUM = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

HOW_TO_GET_ONE = (
    "Install one of:\n"
    "  - Playwright's browser: `playwright install chromium` "
    "(headless only: `playwright install --only-shell chromium`)\n"
    "  - your distribution's package, e.g. `apt-get install chromium chromium-headless-shell`\n"
    "or point BATCH_BROWSER_PATH (--browser-path) at a Chromium executable."
)


def default_playwright_dirs() -> list[Path]:
    """Where Playwright keeps the browsers it downloaded (``PLAYWRIGHT_BROWSERS_PATH``)."""
    configured = os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
    if configured == "0":  # Playwright's convention: browsers inside the package itself
        return [Path(playwright.__file__).parent / "driver" / "package" / ".local-browsers"]
    if configured:
        return [Path(configured).expanduser()]
    return [Path.home() / ".cache" / "ms-playwright"]


def _revision(path: Path, root: Path) -> int:
    """The revision number in ``chromium-1255/...``: the newest download wins."""
    match = re.search(r"-(\d+)$", path.relative_to(root).parts[0])
    return int(match.group(1)) if match else -1


def _playwright_browser(dirs: Sequence[Path], patterns: Sequence[str]) -> Path | None:
    found: list[tuple[int, Path]] = []
    for root in dirs:
        for pattern in patterns:
            found += [(_revision(p, root), p) for p in root.glob(pattern) if p.is_file()]
    return max(found)[1] if found else None


def find_chromium(
    settings: RuntimeSettings,
    *,
    which: Callable[[str], str | None] = shutil.which,
    playwright_dirs: Sequence[Path] | None = None,
) -> Path:
    """The Chromium to launch: the configured one, then Playwright's, then the system's.

    Headless runs prefer a headless shell (several times faster per context and
    lighter than full Chromium); headed runs need full Chromium.
    """
    if settings.browser_path is not None:
        return settings.browser_path
    dirs = default_playwright_dirs() if playwright_dirs is None else playwright_dirs
    headless = settings.headless
    groups = ([_PLAYWRIGHT_HEADLESS_SHELL] if headless else []) + [_PLAYWRIGHT_CHROMIUM]
    for patterns in groups:
        found = _playwright_browser(dirs, patterns)
        if found is not None:
            return found
    for name in (_SYSTEM_HEADLESS_SHELL if headless else ()) + _SYSTEM_CHROMIUM:
        location = which(name)
        if location:
            return Path(location)
    searched = ", ".join(str(d) for d in dirs) or "(none)"
    raise BrowserNotFoundError(
        f"no Chromium found for a {'headless' if headless else 'headed'} run "
        f"(searched Playwright's browsers in {searched} and PATH for "
        f"{', '.join((_SYSTEM_HEADLESS_SHELL if headless else ()) + _SYSTEM_CHROMIUM)}).\n"
        + HOW_TO_GET_ONE
    )


def launch_args(headless: bool, *, sandbox: bool | None = None) -> list[str]:
    """Chromium flags for a quiet, closed-network run.

    The background-networking flags stop Chromium phoning home (refused on a closed
    network, and noise in traces). The sandbox stays on unless running as root,
    where Chromium cannot start with it. Headless runs have no use for a GPU
    process; headed runs on a desktop keep it. ``headless`` itself is passed to
    Playwright, not as a flag.
    """
    sandboxed = os.geteuid() != 0 if sandbox is None else sandbox
    args = [] if sandboxed else ["--no-sandbox"]
    if headless:
        args.append("--disable-gpu")
    return [
        *args,
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
