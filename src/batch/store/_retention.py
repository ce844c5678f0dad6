"""``RetentionStore``: which batches are live, and deleting a batch's rows at once.

A batch is deleted in one transaction that first takes its lease (the same guarded
``UPDATE`` an engine's ``acquire_batch`` is), then re-checks that nothing runs it and
that no row waits for review, then notes it in its group's ``pruned`` list (its
membership goes with it), then deletes its attempts, jobs, and the batch. A group
goes once it has no batch left, in a transaction of its own. A prune killed at any
moment leaves each batch and group whole or gone, never half; ``list``, ``status``
and ``report`` read a consistent store either way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, text

from batch.store import _codec as codec
from batch.store.manifest import ManifestStore

__all__ = ["OldGroup", "RetentionStore"]

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
_GROUP_OF = text(
    "SELECT g.group_id, g.pruned FROM batch_group_members m"
    " JOIN batch_groups g ON g.group_id = m.group_id WHERE m.batch_id = :batch_id"
)
_NOTE_PRUNED = text("UPDATE batch_groups SET pruned = :pruned WHERE group_id = :group_id")
_OLD_GROUPS = text(
    "SELECT g.group_id, g.created_at, m.batch_id FROM batch_groups g"
    " LEFT JOIN batch_group_members m ON m.group_id = g.group_id"
    " WHERE g.created_at < :cutoff ORDER BY g.created_at, g.group_id, m.position"
)
_DELETE_EMPTY_GROUP = text(
    "DELETE FROM batch_groups WHERE group_id = :group_id AND NOT EXISTS"
    " (SELECT 1 FROM batch_group_members WHERE group_id = :group_id)"
)
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


def _note_in_group(conn: Connection, batch_id: str) -> None:
    """Add ``batch_id`` to its group's ``pruned`` list, if it is in a group."""
    row = conn.execute(_GROUP_OF, {"batch_id": batch_id}).first()
    if row is not None:
        pruned = [*json.loads(row.pruned), batch_id]
        conn.execute(_NOTE_PRUNED, {"group_id": row.group_id, "pruned": json.dumps(pruned)})


@dataclass(frozen=True)
class OldGroup:
    created_at: str
    """ISO 8601, as stored."""
    batch_ids: list[str]


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
                _note_in_group(conn, batch_id)
                for statement in _DELETES:
                    conn.execute(statement, params)
        except _Kept as kept:
            return str(kept)
        return None

    def groups_created_before(self, cutoff: datetime) -> dict[str, OldGroup]:
        """The groups created before ``cutoff``, oldest first, with the batches they
        still have."""
        groups: dict[str, OldGroup] = {}
        with self.store.transaction(write=False) as conn:
            rows = conn.execute(_OLD_GROUPS, {"cutoff": codec.to_iso(cutoff)}).all()
        for group_id, created_at, batch_id in rows:
            group = groups.setdefault(str(group_id), OldGroup(str(created_at), []))
            if batch_id is not None:
                group.batch_ids.append(str(batch_id))
        return groups

    def delete_group(self, group_id: str) -> bool:
        """Delete the group's row if no batch is left in it; whether it was deleted."""
        with self.store.transaction() as conn:
            deleted = conn.execute(_DELETE_EMPTY_GROUP, {"group_id": group_id}).rowcount
        return bool(deleted == 1)
