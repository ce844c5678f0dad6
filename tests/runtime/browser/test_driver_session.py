"""Playwright's driver runs in a session of its own (out of reach of a terminal's Ctrl-C),
with the caller's environment, the user's ``PLAYWRIGHT_NODEJS_PATH`` honoured."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psutil
import pytest
from playwright._impl._driver import compute_driver_executable

from runtime.browser import BrowserManager
from runtime.browser.driver_session import NODE_PATH_VARIABLE

pytestmark = pytest.mark.browser


def drivers() -> set[int]:
    """Pids of this process's Playwright drivers: children running ``cli.js run-driver``."""
    return {p.pid for p in psutil.Process().children() if "run-driver" in p.cmdline()}


def new_driver(before: set[int]) -> psutil.Process:
    (pid,) = drivers() - before
    return psutil.Process(pid)


async def test_the_driver_runs_in_its_own_session_without_the_wrapper_variable(
    make_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(NODE_PATH_VARIABLE, raising=False)
    before = drivers()
    async with BrowserManager(make_settings()) as manager:
        assert manager.browser.is_connected()
        driver = new_driver(before)
        assert os.getsid(driver.pid) == driver.pid != os.getsid(0)
        assert NODE_PATH_VARIABLE not in driver.environ()
        assert NODE_PATH_VARIABLE not in os.environ, "the wrapper leaked into this process"
        assert Path(driver.cmdline()[0]).name == "node"


async def test_a_users_node_path_is_still_the_node_that_runs(
    make_settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bundled_node, _ = compute_driver_executable()
    marker = tmp_path / "ran"
    users_node = tmp_path / "my node"  # a space: the wrapper must quote it
    users_node.write_text(f'#!/bin/sh\necho "$$" > "{marker}"\nexec "{bundled_node}" "$@"\n')
    users_node.chmod(0o755)
    monkeypatch.setenv(NODE_PATH_VARIABLE, str(users_node))

    before = drivers()
    async with BrowserManager(make_settings()) as manager:
        assert manager.browser.is_connected()
        driver = new_driver(before)
        assert int(marker.read_text()) == driver.pid, "the user's node script did not run"
        assert os.getsid(driver.pid) == driver.pid != os.getsid(0)
        assert driver.environ()[NODE_PATH_VARIABLE] == str(users_node)
    assert os.environ[NODE_PATH_VARIABLE] == str(users_node)
