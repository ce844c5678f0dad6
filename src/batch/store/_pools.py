"""Resource pools in the store: a batch's pool entries and their exclusive leases.

An entry's lease names a job and its attempt token, and is live only while that job
runs under that token with an unexpired job lease: renewing the job's lease (the
engine's or worker's heartbeat) renews it, a job that ends or is recovered from a
dead owner frees it, and nothing is ever stranded by a crash. Leasing is one write
transaction (SQLite's write lock; on PostgreSQL ``FOR UPDATE SKIP LOCKED`` and a
guarded UPDATE), so two engines or workers never hold one entry at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, text

from batch.store import _codec as codec

__all__ = ["LeaseResult", "PoolDemand", "PoolEntry", "PoolLeases", "insert_pool_entries"]


class PoolDemand(NamedTuple):
    """One pool an attempt needs an entry of, and its limit of leases per entry."""

    pool: str
    max_uses: int = 0


@dataclass(frozen=True)
class PoolEntry:
    pool: str
    key: str
    data: dict[str, str]
    uses: int = 0
    unusable: bool = False
    unusable_reason: str = ""
    leased_by: str | None = None
    """The job holding a live lease on it, if any."""


@dataclass(frozen=True)
class LeaseResult:
    """``entries`` when every pool had a free entry (all leased, or none), else None;
    ``exhausted`` names a pool none of whose entries can ever be leased again."""

    entries: dict[str, PoolEntry] | None
    exhausted: str | None = None


_LIVE = """EXISTS (SELECT 1 FROM jobs j WHERE j.job_id = pool_entries.lease_job_id
    AND j.attempt_token = pool_entries.lease_token AND j.status = 'running'
    AND j.lease_expires_at > :now)"""
_USABLE = """pool_entries.batch_id = :batch_id AND pool_entries.pool = :pool
    AND pool_entries.unusable = 0
    AND (CAST(:max_uses AS INTEGER) = 0 OR pool_entries.uses < CAST(:max_uses AS INTEGER))"""
_FREE = f"""{_USABLE}
    AND (pool_entries.available_at IS NULL OR pool_entries.available_at <= :now)
    AND NOT {_LIVE}"""
_PICK = f"""SELECT entry_key, data, uses FROM pool_entries WHERE {_FREE}
ORDER BY uses, position LIMIT 1"""
_TAKE = text(f"""UPDATE pool_entries SET uses = uses + 1, lease_job_id = :job_id,
    lease_token = :token, available_at = NULL
WHERE entry_key = :key AND {_FREE}""")
_USABLE_COUNT = text(f"SELECT COUNT(*) FROM pool_entries WHERE {_USABLE}")
_DROP_STALE = text("""UPDATE pool_entries SET lease_job_id = NULL, lease_token = NULL
WHERE batch_id = :batch_id AND lease_token = :token""")
_RELEASE = text("""UPDATE pool_entries SET lease_job_id = NULL, lease_token = NULL,
    available_at = :available,
    unusable = CASE WHEN CAST(:unusable AS INTEGER) = 1 THEN 1 ELSE unusable END,
    unusable_reason = CASE WHEN CAST(:unusable AS INTEGER) = 1 THEN :reason
        ELSE unusable_reason END
WHERE batch_id = :batch_id AND pool = :pool AND lease_token = :token""")
_ENTRIES = text(f"""SELECT pool, entry_key, data, uses, unusable, unusable_reason,
    CASE WHEN {_LIVE} THEN lease_job_id END AS leased_by
FROM pool_entries WHERE batch_id = :batch_id ORDER BY pool, position""")
_INSERT = text("""INSERT INTO pool_entries (batch_id, pool, entry_key, position, data)
VALUES (:batch_id, :pool, :key, :position, :data)""")


class _NotAll(Exception):
    """A pool had no free entry: roll back the entries leased so far."""

    def __init__(self, exhausted: str | None) -> None:
        self.exhausted = exhausted


def insert_pool_entries(
    conn: Connection, batch_id: str, pools: Mapping[str, Sequence[tuple[str, dict[str, str]]]]
) -> None:
    """The entries of each pool, ``(key, row)`` in file order, in the batch's transaction."""
    params = [
        {
            "batch_id": batch_id,
            "pool": pool,
            "key": key,
            "position": position,
            "data": json.dumps(row, ensure_ascii=False),
        }
        for pool, entries in pools.items()
        for position, (key, row) in enumerate(entries)
    ]
    if params:
        conn.execute(_INSERT, params)


def _take(conn: Connection, params: dict[str, object]) -> PoolEntry | None:
    pick = _PICK + (" FOR UPDATE SKIP LOCKED" if conn.dialect.name == "postgresql" else "")
    row = conn.execute(text(pick), params).fetchone()
    if row is None or conn.execute(_TAKE, {**params, "key": row[0]}).rowcount != 1:
        return None
    return PoolEntry(str(params["pool"]), str(row[0]), json.loads(row[1]), int(row[2]) + 1)


class PoolLeases:
    """The pool methods of ``ManifestStore`` (which provides ``_tx``)."""

    _tx: Callable[..., AbstractContextManager[Connection]]

    def lease_pool_entries(
        self,
        batch_id: str,
        job_id: str,
        token: str,
        demands: Sequence[PoolDemand],
        now: datetime | None = None,
    ) -> LeaseResult:
        """One free entry of each pool for the attempt of ``job_id`` under ``token``, all
        or none. A lease this token still held (an earlier attempt that never released)
        is dropped first."""
        moment = codec.to_iso(now or datetime.now(UTC))
        try:
            with self._tx() as conn:
                conn.execute(_DROP_STALE, {"batch_id": batch_id, "token": token})
                entries = {}
                for pool, max_uses in demands:
                    params: dict[str, object] = {
                        "batch_id": batch_id, "pool": pool, "max_uses": max_uses,
                        "now": moment, "job_id": job_id, "token": token,
                    }  # fmt: skip
                    entry = _take(conn, params)
                    if entry is None:
                        usable = conn.execute(_USABLE_COUNT, params).scalar_one()
                        raise _NotAll(None if usable else pool)
                    entries[pool] = entry
                return LeaseResult(entries)
        except _NotAll as refused:
            return LeaseResult(None, refused.exhausted)

    def release_pool_entries(
        self,
        batch_id: str,
        token: str,
        cooldowns: Mapping[str, float],
        unusable: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> int:
        """End the leases held under ``token``: each entry rests ``cooldowns[pool]``
        seconds; those in ``unusable`` (pool -> why) leave the pool for the batch."""
        moment = now or datetime.now(UTC)
        released = 0
        with self._tx() as conn:
            for pool, cooldown_s in cooldowns.items():
                reason = (unusable or {}).get(pool)
                params = {
                    "batch_id": batch_id, "pool": pool, "token": token,
                    "available": codec.to_iso(moment + timedelta(seconds=cooldown_s)),
                    "unusable": int(reason is not None), "reason": reason or "",
                }  # fmt: skip
                released += conn.execute(_RELEASE, params).rowcount
        return released

    def pool_entries(self, batch_id: str, now: datetime | None = None) -> list[PoolEntry]:
        """Every entry of the batch's pools, with its uses and whether a live lease holds it."""
        params = {"batch_id": batch_id, "now": codec.to_iso(now or datetime.now(UTC))}
        with self._tx(write=False) as conn:
            rows = conn.execute(_ENTRIES, params).fetchall()
        return list(_entries(rows))


def _entries(rows: Sequence[Row[Any]]) -> Iterator[PoolEntry]:
    for row in rows:
        data = json.loads(row.data)
        yield PoolEntry(
            row.pool, row.entry_key, data, row.uses, bool(row.unusable), row.unusable_reason,
            row.leased_by,
        )  # fmt: skip
