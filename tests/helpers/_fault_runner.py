"""Helpers shared by the safety suites: run ``batchwright`` as users do, kill process
trees (the CLI and the Chromium it started) with SIGKILL, and print trial figures.

Imported by name: pyproject puts tests/helpers on pytest's pythonpath.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import psutil
import pytest

__all__ = [
    "batchwright",
    "chromium_processes",
    "cli_env",
    "kill_tree",
    "report_line",
    "start_batchwright",
]

CHROMIUM_NAMES = ("chrom", "headless")


def cli_env() -> dict[str, str]:
    """The caller's environment without BATCH_* settings; unbuffered so output can be polled."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCH_")}
    env["COLUMNS"] = "200"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def batchwright(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion."""
    return subprocess.run(
        [sys.executable, "-m", "batch", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_batchwright(*args: str, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start the CLI in its own session (so its whole process group can be killed),
    with stdout and stderr going to ``log`` (a pipe nobody reads would block it)."""
    with log.open("wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "batch", *args],
            cwd=cwd,
            env=cli_env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _sigkill(processes: Iterable[psutil.Process]) -> None:
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGKILL)


def kill_tree(process: subprocess.Popen[bytes]) -> int:
    """SIGKILL the CLI's process group and every descendant, even one that left the group
    (Playwright starts Chromium detached, in a session of its own). Returns how many died."""
    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    _sigkill(descendants)
    process.wait(timeout=30)
    _, alive = psutil.wait_procs(descendants, timeout=30)
    assert not alive, f"processes survived SIGKILL: {alive}"
    return len(descendants) + 1


def chromium_processes() -> list[psutil.Process]:
    """Chromium processes started (through Playwright) by this test process."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            name = child.name().lower()
        except psutil.NoSuchProcess:
            continue
        if any(part in name for part in CHROMIUM_NAMES):
            found.append(child)
    return found


def report_line(request: pytest.FixtureRequest, text: str) -> None:
    """A figure worth seeing in every run (not only with -s): straight to the terminal,
    past pytest's output capture."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    if capture is None or reporter is None:
        print(text)  # pytest without its terminal (an xdist worker): plain stdout
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(text)
