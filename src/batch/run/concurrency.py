"""Adaptive concurrency (``--concurrency auto``): how many jobs run at once, decided
every second from what the machine says.

The rule is AIMD. Grow by one while there is headroom (CPU below ``cpu_grow``,
memory to spare, event loop responsive). Shrink by a quarter when something
hurts: the event loop lags (this process is starved and every job slows), free
memory runs low, or the Chromium process tree outgrows its budget. A busy CPU on
its own only stops growth: on a saturated machine fewer jobs would not finish
sooner, while more would only queue. ``decide`` is the pure rule; ``AdaptiveLimiter``
samples and applies it, and gates jobs through ``slot()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType

import psutil

from batch.settings import BatchSettings
from runtime.browser import tree_rss_bytes

__all__ = [
    "AdaptiveLimiter",
    "Sample",
    "Thresholds",
    "auto_bounds",
    "decide",
    "make_limiter",
    "max_concurrency",
    "sample_machine",
]

_MB = 1024 * 1024


@dataclass(frozen=True)
class Sample:
    """One look at the machine."""

    cpu_percent: float
    """System-wide CPU use since the previous sample (all cores, 0-100)."""
    available_mb: float
    """Memory the system can still hand out."""
    tree_rss_mb: float
    """Resident memory of this process and all its children (Chromium included)."""
    loop_lag_s: float
    """How late a timer of the event loop fired: how starved this process is."""


@dataclass(frozen=True)
class Thresholds:
    """When to grow and when to shrink; the defaults suit a small shared machine."""

    cpu_grow: float = 80.0
    """Grow only while system CPU is below this."""
    lag_shrink_s: float = 0.25
    """Shrink when the event loop is this late."""
    lag_grow_s: float = 0.05
    """Grow only while the event loop is less late than this."""
    min_available_mb: float = 300.0
    """Shrink when less memory than this is free."""
    max_tree_mb: float | None = None
    """Shrink when the process tree holds more than this (None: no budget)."""


def decide(limit: int, sample: Sample, low: int, high: int, limits: Thresholds) -> int:
    """The next limit: a quarter less when overloaded, one more with headroom, else the same."""
    over_budget = limits.max_tree_mb is not None and sample.tree_rss_mb > limits.max_tree_mb
    if (
        sample.loop_lag_s > limits.lag_shrink_s
        or sample.available_mb < limits.min_available_mb
        or over_budget
    ):
        return max(low, min(limit - 1, int(limit * 0.75)))
    per_job_mb = sample.tree_rss_mb / max(limit, 1)
    headroom = (
        sample.cpu_percent < limits.cpu_grow
        and sample.loop_lag_s < limits.lag_grow_s
        and sample.available_mb > limits.min_available_mb + 2 * per_job_mb
        and (limits.max_tree_mb is None or sample.tree_rss_mb + per_job_mb < limits.max_tree_mb)
    )
    return min(high, limit + 1) if headroom else max(low, min(high, limit))


def auto_bounds(cpu_count: int | None = None) -> tuple[int, int, int]:
    """(minimum, start, maximum) for ``concurrency=auto``: start at the core count (at
    least 2: a job waits on the browser part of its time), up to four per core."""
    cores = cpu_count or os.cpu_count() or 1
    return 1, max(2, cores), min(64, max(4, 4 * cores))


def sample_machine(process: psutil.Process, loop_lag_s: float) -> Sample:
    """CPU, free memory and the RSS of ``process`` and its children, now."""
    return Sample(
        cpu_percent=psutil.cpu_percent(interval=None),
        available_mb=psutil.virtual_memory().available / _MB,
        tree_rss_mb=tree_rss_bytes(process) / _MB,
        loop_lag_s=loop_lag_s,
    )


class AdaptiveLimiter:
    """A ``ConcurrencyLimiter`` whose limit follows ``decide`` every ``interval_s``.

    Use as ``async with AdaptiveLimiter(...) as limiter:`` (the sampler runs inside);
    run at least ``maximum`` workers, each holding ``slot()`` while it runs a job.
    ``history`` keeps (seconds since start, limit) at every change, for reports.
    """

    def __init__(
        self,
        *,
        minimum: int = 1,
        maximum: int,
        start: int,
        interval_s: float = 1.0,
        thresholds: Thresholds | None = None,
        sampler: Callable[[float], Sample] | None = None,
    ) -> None:
        if not 1 <= minimum <= maximum:
            raise ValueError(f"need 1 <= minimum <= maximum, got {minimum} and {maximum}")
        self.minimum = minimum
        self.maximum = maximum
        self.interval_s = interval_s
        self.thresholds = thresholds or Thresholds()
        self._process = psutil.Process()
        self._sampler = sampler or (lambda lag: sample_machine(self._process, lag))
        self._limit = max(minimum, min(maximum, start))
        self._active = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._started = time.monotonic()
        self.history: list[tuple[float, int]] = [(0.0, self._limit)]
        self.last_sample: Sample | None = None

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def peak(self) -> int:
        """The highest limit reached so far."""
        return max(limit for _, limit in self.history)

    async def __aenter__(self) -> AdaptiveLimiter:
        psutil.cpu_percent(interval=None)  # the first call only sets the baseline
        self._task = asyncio.create_task(self._sample_forever(), name="adaptive-limiter")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait until fewer than ``limit`` jobs run, and count this one while it runs."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._active < self._limit)
            self._active += 1
        try:
            yield
        finally:
            async with self._changed:
                self._active -= 1
                self._changed.notify_all()

    async def apply(self, sample: Sample) -> int:
        """Apply one sample (the sampler calls this each interval); returns the new limit."""
        self.last_sample = sample
        new = decide(self._limit, sample, self.minimum, self.maximum, self.thresholds)
        if new != self._limit:
            self._limit = new
            self.history.append((round(time.monotonic() - self._started, 1), new))
            async with self._changed:
                self._changed.notify_all()
        return new

    async def _sample_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval_s)
            lag = max(0.0, loop.time() - before - self.interval_s)
            sample = await asyncio.to_thread(self._sampler, lag)
            await self.apply(sample)


def max_concurrency(settings: BatchSettings) -> int:
    """The number of workers: the fixed concurrency, or the most ``auto`` may use."""
    if isinstance(settings.concurrency, int):
        return settings.concurrency
    return auto_bounds()[2]


def make_limiter(settings: BatchSettings) -> AdaptiveLimiter | None:
    """``concurrency=auto``: a limiter that follows CPU, memory and event-loop lag."""
    if isinstance(settings.concurrency, int):
        return None
    low, start, high = auto_bounds()
    return AdaptiveLimiter(minimum=low, maximum=high, start=start)
