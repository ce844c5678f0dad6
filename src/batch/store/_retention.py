"""``RetentionStore``: which batches are live, and deleting a batch's rows at once.

A batch is deleted in one transaction that first takes its lease (the same guarded
``UPDATE`` an engine's ``acquire_batch`` is), then re-checks that nothing runs it and
that no row waits for review, then deletes its attempts, jobs, and the batch. A
prune killed at any moment leaves each batch whole or gone, never half; ``list``,
``status`` and ``report`` read a consistent store either way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, text

from batch.store import _codec as codec
from batch.store.manifest import ManifestStore

__all__ = ["RetentionStore"]

_TAKE = text(
    "UPDATE batches SET owner = :owner, lease_expires_at = :expires WHERE batch_id = :batch_id"
    " AND (owner IS NULL OR lease_expires_at <= :now)"
)
_LIVE_OWNER = text(
    "SELECT owner FROM batches WHERE batch_id = :batch_id AND owner IS NOT NULL"
    " AND lease_expires_at > :now"
)
_LIVE_JOBS = text(
    "SELECT COUNT(*) FROM jobs WHERE batch_id = :batch_id AND status = 'running'"
    " AND lease_expires_at > :now"
)
_QUEUED_ON_WORKERS = text(
    "SELECT COUNT(*) FROM jobs j JOIN batches b ON b.batch_id = j.batch_id"
    " WHERE j.batch_id = :batch_id AND j.status = 'pending' AND b.status = 'running'"
    " AND b.settings LIKE '%\"workers\"%'"
)
_REVIEW = text("SELECT COUNT(*) FROM jobs WHERE batch_id = :batch_id AND status = 'needs_review'")
_DELETES = (
    text(
        "DELETE FROM attempts WHERE job_id IN (SELECT job_id FROM jobs WHERE batch_id = :batch_id)"
    ),
    text("DELETE FROM jobs WHERE batch_id = :batch_id"),
    text("DELETE FROM pool_entries WHERE batch_id = :batch_id"),
    text("DELETE FROM webhook_deliveries WHERE batch_id = :batch_id"),  # attempts cascade
    text("DELETE FROM batches WHERE batch_id = :batch_id"),
)


def _now() -> datetime:
    return datetime.now(UTC)


def _activity(conn: Connection, batch_id: str, now: str) -> str | None:
    params = {"batch_id": batch_id, "now": now}
    owner = conn.execute(_LIVE_OWNER, params).scalar()
    if owner is not None:
        return f"engine {owner} runs it"
    running = conn.execute(_LIVE_JOBS, params).scalar() or 0
    if running:
        return f"{running} row(s) running"
    queued = conn.execute(_QUEUED_ON_WORKERS, params).scalar() or 0
    if queued:
        return f"{queued} row(s) queued on the workers"
    return None


class _Kept(Exception):
    """Raised inside the deleting transaction to roll it back, with the reason."""


class RetentionStore:
    """Liveness and deletion of batches in a ``ManifestStore``'s database."""

    def __init__(self, store: ManifestStore) -> None:
        self.store = store

    def activity(self, batch_id: str) -> str | None:
        """Why ``batch_id`` counts as running now (an engine's live lease, rows running,
        rows queued on the workers), or None. Leases are real time, as their writers'."""
        with self.store.transaction(write=False) as conn:
            return _activity(conn, batch_id, codec.to_iso(_now()))

    def created_before(self, cutoff: datetime) -> list[str]:
        """Ids of the batches created before ``cutoff``, oldest first."""
        query = text(
            "SELECT batch_id FROM batches WHERE created_at < :cutoff ORDER BY created_at, batch_id"
        )
        with self.store.transaction(write=False) as conn:
            rows = conn.execute(query, {"cutoff": codec.to_iso(cutoff)}).fetchall()
        return [str(row[0]) for row in rows]

    def delete(self, batch_id: str, owner: str, *, include_review: bool = False) -> str | None:
        """Delete the batch's attempts, jobs and row in one transaction; None once done,
        else why it was kept (running, rows needing review, already gone)."""
        now = _now()
        moment = codec.to_iso(now)
        params = {
            "batch_id": batch_id,
            "owner": owner,
            "now": moment,
            "expires": codec.to_iso(now + timedelta(hours=1)),
        }
        try:
            with self.store.transaction() as conn:
                reason = _activity(conn, batch_id, moment)
                if reason is None and conn.execute(_TAKE, params).rowcount != 1:
                    reason = "it is gone or taken"
                if reason is None and not include_review:
                    review = conn.execute(_REVIEW, params).scalar() or 0
                    if review:
                        reason = f"{review} row(s) need review (--include-review prunes them)"
                if reason is not None:
                    raise _Kept(reason)
                for statement in _DELETES:
                    conn.execute(statement, params)
        except _Kept as kept:
            return str(kept)
        return None
