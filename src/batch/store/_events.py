"""Row status changes as a per-batch sequence, for live progress from the store.

Every move of a job's status first bumps its batch's ``event_seq`` and then stamps
the job with the new value, in one transaction. On PostgreSQL the bump locks the
batch's row until commit, so the finishers of one batch are serialised and commit
in sequence order: a reader that has seen number N has seen every number below it
(a global sequence would let N+1 commit before N, and a reader resuming after N+1
would miss N). A job keeps only its newest number, so "the changes after N" is each
changed row's latest state: what a client reconnecting after N needs.

A position in the sequence is ``(seq, row_index)``: one move may stamp many rows with
the same number (a requeue, a cancel), and the row index orders them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy import Connection, text

from batch.models import BatchStatus, JobStatus
from batch.store import _reads as reads

__all__ = [
    "BUMP_BATCH",
    "BUMP_FOR_JOB",
    "BUMP_OWNED",
    "END_OF_SEQ",
    "SEQ_OF_BATCH",
    "EventReads",
    "EventSnapshot",
    "RowChange",
]

BUMP_BATCH = text("UPDATE batches SET event_seq = event_seq + 1 WHERE batch_id = :batch_id")
BUMP_FOR_JOB = text(
    "UPDATE batches SET event_seq = event_seq + 1 "
    "WHERE batch_id = (SELECT batch_id FROM jobs WHERE job_id = :job_id)"
)
BUMP_OWNED = text(
    "UPDATE batches SET event_seq = event_seq + 1 WHERE batch_id IN "
    "(SELECT batch_id FROM jobs WHERE status = 'running' AND lease_owner = :owner)"
)
SEQ_OF_BATCH = "(SELECT b.event_seq FROM batches AS b WHERE b.batch_id = jobs.batch_id)"
"""The batch's counter, just bumped: the value a changed job is stamped with."""

END_OF_SEQ = 2**62
"""A row index past any: position ``(seq, END_OF_SEQ)`` is "after every row of seq"."""

# ``event_seq > 0`` matches the partial index's predicate, so SQLite uses it.
_CHANGES = text("""
SELECT job_id, row_index, source_line, status, error_category, event_seq,
    (SELECT a.duration_s FROM attempts AS a WHERE a.job_id = jobs.job_id
     ORDER BY a.number DESC LIMIT 1) AS duration_s
FROM jobs
WHERE batch_id = :batch_id AND event_seq > 0 AND event_seq >= :seq
  AND (event_seq > :seq OR row_index > :row)
  AND event_seq <= :upto AND (event_seq < :upto OR row_index <= :upto_row)
ORDER BY event_seq, row_index LIMIT :limit
""")
_BATCH_STATE = text("SELECT status, event_seq FROM batches WHERE batch_id = :batch_id")


@dataclass(frozen=True, slots=True)
class RowChange:
    """A row's state at its newest status change, numbered ``seq``."""

    seq: int
    job_id: str
    row_index: int
    source_line: int
    status: JobStatus
    error_category: str | None
    duration_s: float | None


@dataclass(frozen=True, slots=True)
class EventSnapshot:
    """A batch's status, counter and counts, read in one transaction."""

    status: BatchStatus
    seq: int
    counts: dict[JobStatus, int]


class EventReads:
    """The event reads of ``ManifestStore`` (mixed in: they use its transactions)."""

    def _tx(self, *, write: bool = True) -> AbstractContextManager[Connection]:
        raise NotImplementedError  # ManifestStore's

    def event_snapshot(self, batch_id: str) -> EventSnapshot | None:
        """The batch's status, newest event number and counts; None if no such batch."""
        with self._tx(write=False) as conn:
            row = conn.execute(_BATCH_STATE, {"batch_id": batch_id}).fetchone()
            if row is None:
                return None
            counts = reads.counts(conn, batch_id)
        return EventSnapshot(BatchStatus(row[0]), int(row[1]), counts)

    def row_changes(
        self,
        batch_id: str,
        after: tuple[int, int],
        upto: tuple[int, int] = (END_OF_SEQ, END_OF_SEQ),
        limit: int = 500,
    ) -> list[RowChange]:
        """Rows whose newest change is past position ``after`` and at most at ``upto``,
        in sequence order (keyset over the partial index)."""
        params = {
            "batch_id": batch_id,
            "seq": after[0],
            "row": after[1],
            "upto": upto[0],
            "upto_row": upto[1],
            "limit": limit,
        }
        with self._tx(write=False) as conn:
            rows = conn.execute(_CHANGES, params).fetchall()
        return [
            RowChange(
                seq=int(r.event_seq),
                job_id=str(r.job_id),
                row_index=int(r.row_index),
                source_line=int(r.source_line),
                status=JobStatus(r.status),
                error_category=r.error_category,
                duration_s=None if r.duration_s is None else float(r.duration_s),
            )
            for r in rows
        ]

    def iter_row_changes(
        self,
        batch_id: str,
        after: tuple[int, int],
        upto: tuple[int, int] = (END_OF_SEQ, END_OF_SEQ),
        page: int = 500,
    ) -> Iterator[RowChange]:
        """``row_changes`` page after page: flat memory for any batch."""
        while changes := self.row_changes(batch_id, after, upto, page):
            yield from changes
            after = (changes[-1].seq, changes[-1].row_index)
