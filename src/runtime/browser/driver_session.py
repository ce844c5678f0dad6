"""Start Playwright with its Node.js driver in a session of its own.

A terminal's Ctrl-C (and ``timeout``'s SIGTERM) goes to the whole foreground process
group. Playwright spawns its driver in the caller's group, and the driver closes every
browser on SIGINT, so the rows the CLI means to let finish would fail mid-page. Only
the engine should decide what a signal does: the driver must not see it. Chromium is
out of the group already (the driver starts it detached, in a session of its own).

Playwright has no option for how it spawns the driver, but it runs whatever
``PLAYWRIGHT_NODEJS_PATH`` names. While ``start_playwright`` spawns the driver, that
is a small wrapper script: it restores the variable, calls ``setsid()`` and execs the
real Node.js, so the driver keeps its pid and its stdin pipe. When this process dies,
even by SIGKILL, that pipe closes and the driver closes its browsers and exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from playwright._impl._driver import compute_driver_executable  # see _real_node
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Playwright, async_playwright

__all__ = ["NODE_PATH_VARIABLE", "start_playwright"]

logger = logging.getLogger("batchwright.browser")

NODE_PATH_VARIABLE = "PLAYWRIGHT_NODEJS_PATH"
"""Playwright's setting for the Node.js that runs its driver (also honoured as the user's)."""

_SETSID_AND_EXEC = """\
import os, sys
try:
    os.setsid()
except PermissionError:  # already leads a process group or session of its own
    pass
os.execvp(sys.argv[1], sys.argv[1:])
"""
"""The wrapper's work, in Python (``sh`` has no setsid and util-linux's is not everywhere)."""


@dataclass
class _Override:
    """The wrapper in use and the variable's value before it (None: it was unset)."""

    directory: Path
    previous: str | None


class _SharedWrapper:
    """The wrapper while starts are in progress: overlapping starts (several managers in
    one process) share it, and the last one out removes it and restores the variable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._starting = 0
        self._override: _Override | None = None

    @contextlib.contextmanager
    def in_use(self) -> Iterator[None]:
        with self._lock:
            if self._starting == 0:
                self._override = _install_wrapper()
            self._starting += 1
        try:
            yield
        finally:
            with self._lock:
                self._starting -= 1
                if self._starting == 0 and self._override is not None:
                    _uninstall_wrapper(self._override)
                    self._override = None


_WRAPPER = _SharedWrapper()


async def start_playwright() -> Playwright:
    """``async_playwright().start()``, its driver in a session of its own where possible."""
    with _WRAPPER.in_use():
        return await async_playwright().start()


def _install_wrapper() -> _Override | None:
    """Point ``PLAYWRIGHT_NODEJS_PATH`` at a setsid wrapper; None where that cannot work."""
    node = _real_node() if os.name == "posix" and sys.executable else None
    if node is None:
        return None
    previous = os.environ.get(NODE_PATH_VARIABLE)
    directory = Path(tempfile.mkdtemp(prefix="batchwright-driver-"))
    wrapper = directory / "node"
    wrapper.write_text(_wrapper_script(node, previous), encoding="utf-8")
    wrapper.chmod(0o700)
    if not os.access(wrapper, os.X_OK):  # a temporary directory mounted noexec
        shutil.rmtree(directory, ignore_errors=True)
        logger.warning(
            "cannot run a script in %s: Playwright's driver stays in this process group, "
            "so Ctrl-C in a terminal also stops the browser",
            directory.parent,
        )
        return None
    os.environ[NODE_PATH_VARIABLE] = str(wrapper)
    return _Override(directory, previous)


def _uninstall_wrapper(override: _Override) -> None:
    """The driver has exec'd the real Node.js by now: the wrapper is no longer needed."""
    if override.previous is None:
        os.environ.pop(NODE_PATH_VARIABLE, None)
    else:
        os.environ[NODE_PATH_VARIABLE] = override.previous
    shutil.rmtree(override.directory, ignore_errors=True)


def _wrapper_script(node: str, previous: str | None) -> str:
    """``sh`` script: the driver sees the caller's environment, then setsid and exec."""
    restore = (
        f"unset {NODE_PATH_VARIABLE}"
        if previous is None
        else f"export {NODE_PATH_VARIABLE}={shlex.quote(previous)}"
    )
    command = shlex.join([sys.executable, "-I", "-S", "-c", _SETSID_AND_EXEC, node])
    return f'#!/bin/sh\n{restore}\nexec {command} "$@"\n'


def _real_node() -> str | None:
    """The Node.js Playwright would run itself: the user's ``PLAYWRIGHT_NODEJS_PATH`` or
    its bundled one (None if neither exists: Playwright then reports it).

    Private API (imported above), used only here: Playwright offers no public way to ask, and
    copying its lookup would silently drift from it in a later version.
    """
    try:
        node, _cli = compute_driver_executable()
    except PlaywrightError:
        return None
    return node
