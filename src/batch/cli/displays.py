"""Progress displays fed ``ProgressEvent`` s: a rich bar for terminals, plain lines for
CI logs, JSON lines for machines, or nothing. ``make_progress`` picks one for a stream;
``make_group_progress`` one for a group's batches (a bar for the group, one per file).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal, Protocol, Self, TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from batch.models import JobStatus, ProgressEvent
from batch.reports.summary import BatchSummary

__all__ = [
    "GroupLineProgress",
    "GroupRichProgress",
    "JsonLinesProgress",
    "LineProgress",
    "ProgressMode",
    "ProgressSink",
    "QuietProgress",
    "RichProgress",
    "final_line",
    "make_group_progress",
    "make_progress",
]

ProgressMode = Literal["auto", "rich", "json", "quiet", "lines"]


class ProgressSink(Protocol):
    """Called with each event; closed (or used as a context manager) when the run ends."""

    def __call__(self, event: ProgressEvent) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class _Sink:
    """Context-manager plumbing shared by the sinks: leaving the block closes the sink."""

    def close(self) -> None:
        """Nothing to release by default."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _bar_fields(event: ProgressEvent) -> dict[str, Any]:
    """What a progress bar's columns show of one event."""
    return {
        "ok": event.completed,
        "failed": event.failed,
        "flaky": event.flaky,
        "rate": event.rate_per_s,
        "eta": _eta(event.eta_s),
        "running": event.running,
        "concurrency": event.concurrency,
    }


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class QuietProgress(_Sink):
    """Shows nothing (``--quiet``)."""

    def __call__(self, event: ProgressEvent) -> None:
        """Discard the event."""


class JsonLinesProgress(_Sink):
    """One JSON object per event per line, flushed at once, for programs to follow."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __call__(self, event: ProgressEvent) -> None:
        record: dict[str, Any] = {"event": "progress", **dataclasses.asdict(event)}
        if event.last_status is not None:
            record["last_status"] = event.last_status.value
        self._stream.write(json.dumps(record) + "\n")
        self._stream.flush()


def _line(event: ProgressEvent) -> str:
    return (
        f"batch {event.batch_id}: {event.done}/{event.total} done "
        f"({event.completed} completed, {event.failed} failed, {event.flaky} flaky, "
        f"{event.skipped} skipped) · {event.rate_per_s:.1f} rows/s · ETA {_eta(event.eta_s)} "
        f"· {event.running} running of {event.concurrency}"
    )


class LineProgress(_Sink):
    """A plain line every ``every_rows`` rows or ``every_s`` seconds, and at the end:
    readable in CI logs, where a redrawn bar would print thousands of lines."""

    def __init__(
        self,
        stream: TextIO,
        *,
        every_rows: int = 100,
        every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._every_rows = every_rows
        self._every_s = every_s
        self._clock = clock
        self._last_done = 0
        self._last_time = clock()
        self._pending: ProgressEvent | None = None

    def __call__(self, event: ProgressEvent) -> None:
        now = self._clock()
        due = (
            event.done - self._last_done >= self._every_rows
            or now - self._last_time >= self._every_s
            or event.done >= event.total
        )
        if not due:
            self._pending = event
            return
        self._write(event)
        self._last_done, self._last_time = event.done, now

    def _write(self, event: ProgressEvent) -> None:
        self._pending = None
        self._stream.write(_line(event) + "\n")
        self._stream.flush()

    def close(self) -> None:
        """Print the last event if it was held back, so the log ends on the final state."""
        if self._pending is not None:
            self._write(self._pending)


class RichProgress(_Sink):
    """A live rich bar with done/failed/flaky counts, rows/s, ETA and concurrency."""

    def __init__(self, stream: TextIO) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "[green]{task.fields[ok]} ok[/] [red]{task.fields[failed]} failed[/] "
                "[yellow]{task.fields[flaky]} flaky[/]"
            ),
            TextColumn("{task.fields[rate]:.1f} rows/s"),
            TextColumn("ETA {task.fields[eta]}"),
            TextColumn("{task.fields[running]}/{task.fields[concurrency]} running"),
            console=Console(file=stream),
        )
        self._task: TaskID | None = None

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __call__(self, event: ProgressEvent) -> None:
        fields = _bar_fields(event)
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task(
                f"batch {escape(event.batch_id)}", total=event.total, **fields
            )
        self._progress.update(
            self._task, completed=event.done, total=event.total, refresh=True, **fields
        )

    def close(self) -> None:
        self._progress.stop()


class _GroupTotals:
    """The group's counts: the latest event of each of its batches, added up."""

    def __init__(self, totals: dict[str, int]) -> None:
        self.totals = totals
        self.latest: dict[str, ProgressEvent] = {}

    def add(self, event: ProgressEvent) -> dict[str, int]:
        self.latest[event.batch_id] = event
        seen = self.latest.values()
        return {
            "done": sum(e.done for e in seen),
            "total": sum(self.totals.values()),
            "ok": sum(e.completed for e in seen),
            "failed": sum(e.failed for e in seen),
            "flaky": sum(e.flaky for e in seen),
            "running": sum(e.running for e in seen),
        }


class GroupRichProgress(RichProgress):
    """A bar for the group (all its rows) above a bar for each of its files."""

    def __init__(
        self, stream: TextIO, group_id: str, labels: dict[str, str], totals: dict[str, int]
    ) -> None:
        super().__init__(stream)
        self._sums = _GroupTotals(totals)
        empty: dict[str, Any] = {
            "ok": 0, "failed": 0, "flaky": 0, "rate": 0.0, "eta": "?", "running": 0,
        }  # fmt: skip
        self._group = self._progress.add_task(
            f"group {escape(group_id)}", total=sum(totals.values()), concurrency="-", **empty
        )
        self._files = {
            batch_id: self._progress.add_task(
                f"  {escape(labels[batch_id])}", total=totals[batch_id], concurrency="-", **empty
            )
            for batch_id in labels
        }

    def __call__(self, event: ProgressEvent) -> None:
        fields = _bar_fields(event)
        task = self._files.get(event.batch_id)
        if task is not None:
            self._progress.update(task, completed=event.done, total=event.total, **fields)
        sums = self._sums.add(event)
        self._progress.update(
            self._group,
            completed=sums["done"],
            ok=sums["ok"],
            failed=sums["failed"],
            flaky=sums["flaky"],
            running=sums["running"],
            concurrency=event.concurrency,
            refresh=True,
        )


class GroupLineProgress(_Sink):
    """Plain lines per file, named by file and throttled like ``LineProgress``, each
    followed by a line for the whole group."""

    def __init__(
        self,
        stream: TextIO,
        group_id: str,
        labels: dict[str, str],
        totals: dict[str, int],
        *,
        every_rows: int = 100,
        every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._group_id = group_id
        self._labels = labels
        self._sums = _GroupTotals(totals)
        self._every_rows, self._every_s, self._clock = every_rows, every_s, clock
        self._last: dict[str, tuple[int, float]] = {}
        self._pending: dict[str, ProgressEvent] = {}

    def __call__(self, event: ProgressEvent) -> None:
        self._sums.add(event)
        now = self._clock()
        last_done, last_time = self._last.get(event.batch_id, (0, now))
        due = (
            event.done - last_done >= self._every_rows
            or now - last_time >= self._every_s
            or event.done >= event.total
        )
        if not due:
            self._last.setdefault(event.batch_id, (0, now))
            self._pending[event.batch_id] = event
            return
        self._last[event.batch_id] = (event.done, now)
        self._write(event)

    def _write(self, event: ProgressEvent) -> None:
        self._pending.pop(event.batch_id, None)
        sums = self._sums.add(event)
        label = self._labels.get(event.batch_id, event.batch_id)
        self._stream.write(
            f"{label} · {_line(event)}\n"
            f"group {self._group_id}: {sums['done']}/{sums['total']} done "
            f"({sums['ok']} completed, {sums['failed']} failed)\n"
        )
        self._stream.flush()

    def close(self) -> None:
        """Print each file's last event if it was held back."""
        for event in list(self._pending.values()):
            self._write(event)


def make_group_progress(
    mode: ProgressMode,
    stream: TextIO,
    group_id: str,
    labels: dict[str, str],
    totals: dict[str, int],
) -> ProgressSink:
    """The sink for a group's run; ``labels``/``totals``: each batch's file and rows."""
    if mode == "auto":
        mode = "rich" if stream.isatty() else "lines"
    if mode == "rich":
        return GroupRichProgress(stream, group_id, labels, totals)
    if mode == "lines":
        return GroupLineProgress(stream, group_id, labels, totals)
    return make_progress(mode, stream)


def make_progress(mode: ProgressMode, stream: TextIO) -> ProgressSink:
    """The sink for ``mode``; ``auto`` is a rich bar on a terminal and plain lines elsewhere."""
    if mode == "auto":
        mode = "rich" if stream.isatty() else "lines"
    if mode == "rich":
        return RichProgress(stream)
    if mode == "json":
        return JsonLinesProgress(stream)
    if mode == "lines":
        return LineProgress(stream)
    return QuietProgress()


def final_line(summary: BatchSummary) -> str:
    """One line for the end of a run, e.g. ``batch b1: 198/200 completed (99.5%), 1 failed,
    3 flaky, 1 skipped in 41.2 s (4.8 rows/s)``."""
    line = (
        f"batch {summary.batch_id}: {summary.count(JobStatus.COMPLETED)}/{summary.total} "
        f"completed ({summary.success_rate:.1%}), {summary.count(JobStatus.FAILED)} failed, "
        f"{summary.flaky} flaky, {summary.count(JobStatus.SKIPPED)} skipped"
    )
    others = [
        f"{summary.count(status)} {status.value.replace('_', ' ')}"
        for status in (JobStatus.NEEDS_REVIEW, JobStatus.CANCELLED, JobStatus.PENDING)
        if summary.count(status)
    ]
    if others:
        line += ", " + ", ".join(others)
    return f"{line} in {summary.wall_time_s:.1f} s ({summary.throughput_rows_per_s:.1f} rows/s)"
