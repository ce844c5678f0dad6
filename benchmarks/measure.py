"""Running one contender as a child process and measuring it from outside: wall time,
CPU seconds and peak RSS of its whole process tree (Chromium and Node included)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from runtime.browser import tree_rss_bytes

__all__ = ["Result", "median", "percentile", "run_measured"]

_MB = 1024 * 1024
REPO = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    """One run of one contender."""

    rows: int
    wall_s: float
    cpu_s: float
    peak_mb: float
    latencies_s: list[float] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall_s if self.wall_s else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def run_measured(
    argv: Sequence[str],
    rows: int,
    *,
    env: dict[str, str] | None = None,
    cwd: Path = REPO,
    also_watch: Sequence[int] = (),
) -> Result:
    """Run ``argv``; its last stdout line may be JSON with ``latencies`` and extras.

    CPU is the child's rusage after it is reaped (it includes every descendant that
    was waited for: Playwright's driver, Chromium). Peak memory is the largest sum
    of RSS over the tree, sampled every 50 ms (shared pages are counted per process,
    so it overstates; equally for every contender). ``also_watch``: pids of processes
    that work for the child without descending from it (workers), whose trees are
    summed into the same samples.
    """
    cpu_before = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        watched = [psutil.Process(pid) for pid in (proc.pid, *also_watch)]
        while not done.wait(0.05):
            peak = max(peak, sum(tree_rss_bytes(root) for root in watched))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    cpu = _children_cpu() - cpu_before
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}... exited {proc.returncode}:\n{err[-3000:]}")
    report: dict[str, object] = {}
    lines = [line for line in out.splitlines() if line.strip()]
    if lines and lines[-1].startswith("{"):
        report = json.loads(lines[-1])
    latencies = [float(x) for x in report.pop("latencies", [])]  # type: ignore[attr-defined]
    return Result(rows, wall, cpu, peak / _MB, latencies, report)


def _children_cpu() -> float:
    """User + system CPU seconds of every reaped child of this process so far."""
    times = os.times()
    return times.children_user + times.children_system
