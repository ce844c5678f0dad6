"""The events of a batch's progress stream: a row changed, the counts, the end.

Each event carries a position in the batch's event sequence as its id: ``"S-R"`` for
a row (sequence number S, row index R: one move may number many rows alike), and the
position of the last row event sent for ``progress`` and ``finished``. A client that
reconnects with an id gets every row changed after it, each in its newest state.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from batch.models import BatchStatus, JobStatus
from batch.store._events import END_OF_SEQ, EventSnapshot, RowChange

__all__ = [
    "START",
    "RateMeter",
    "StreamEvent",
    "finished_event",
    "format_event_id",
    "is_over",
    "parse_event_id",
    "progress_event",
    "row_event",
]

Position = tuple[int, int]
START: Position = (0, -1)
"""Before every event: a client without an id gets the whole stream."""

_DONE = frozenset(JobStatus) - {JobStatus.PENDING, JobStatus.RUNNING}
_STOPPED = frozenset({BatchStatus.FINISHED, BatchStatus.INTERRUPTED})


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One server-sent event: its name, id and JSON data."""

    event: Literal["row", "progress", "finished"]
    id: str
    data: dict[str, object]


def format_event_id(position: Position) -> str:
    """``"S-R"``; ``"S"`` for "after every row numbered S" (and "0" for the start)."""
    seq, row = position
    if row < 0:  # before the rows of seq: after those of seq - 1 (no row is numbered 0)
        return str(max(seq - 1, 0))
    return str(seq) if row >= END_OF_SEQ else f"{seq}-{row}"


def parse_event_id(value: str | None) -> Position:
    """A Last-Event-ID back to a position; ``ValueError`` naming what is wrong."""
    if value is None or not value.strip():
        return START
    seq, _, row = value.strip().partition("-")
    if not seq.isdigit() or (row and not row.isdigit()):
        raise ValueError(
            f"Last-Event-ID {value[:40]!r} is not an event id of this stream "
            "(a number, or two numbers joined by '-')"
        )
    return (int(seq), int(row) if row else END_OF_SEQ)


def row_event(change: RowChange) -> StreamEvent:
    position = (change.seq, change.row_index)
    return StreamEvent(
        "row",
        format_event_id(position),
        {
            "job_id": change.job_id,
            "row": change.row_index,
            "line": change.source_line,
            "status": change.status.value,
            "category": change.error_category,
            "duration_s": change.duration_s,
        },
    )


def is_over(snapshot: EventSnapshot) -> bool:
    """The batch stopped (finished or interrupted) and none of its rows runs."""
    return snapshot.status in _STOPPED and not snapshot.counts.get(JobStatus.RUNNING)


def _counts(snapshot: EventSnapshot) -> dict[str, int]:
    return {status.value: snapshot.counts.get(status, 0) for status in JobStatus}


def progress_event(
    batch_id: str, snapshot: EventSnapshot, rate: float, position: Position
) -> StreamEvent:
    total = sum(snapshot.counts.values())
    done = sum(snapshot.counts.get(status, 0) for status in _DONE)
    return StreamEvent(
        "progress",
        format_event_id(position),
        {
            "batch_id": batch_id,
            "status": snapshot.status.value,
            "total": total,
            "done": done,
            "counts": _counts(snapshot),
            "rate_per_s": round(rate, 3),
            "eta_s": round((total - done) / rate, 1) if rate > 0 else None,
        },
    )


def finished_event(batch_id: str, snapshot: EventSnapshot, position: Position) -> StreamEvent:
    return StreamEvent(
        "finished",
        format_event_id(position),
        {
            "batch_id": batch_id,
            "status": snapshot.status.value,
            "total": sum(snapshot.counts.values()),
            "counts": _counts(snapshot),
        },
    )


class RateMeter:
    """Rows done per second over a sliding window of the feed's own observations."""

    def __init__(self, window_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self._window_s = window_s
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()

    def observe(self, snapshot: EventSnapshot) -> float:
        now = self._clock()
        done = sum(snapshot.counts.get(status, 0) for status in _DONE)
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > self._window_s:
            self._samples.popleft()
        first_t, first_done = self._samples[0]
        return (done - first_done) / (now - first_t) if now > first_t else 0.0
