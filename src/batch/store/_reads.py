"""The manifest store's read queries: manifests with derived counts, jobs in pages.

Each function runs inside a transaction its caller (``ManifestStore``) opened, so
a manifest and its counts come from one snapshot. Attempts are loaded for a whole
page of jobs in one query, never one query per job.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection

from batch.models import AttemptRecord, BatchJob, BatchManifest, JobStatus
from batch.store import _codec as codec
from batch.store._jobs import json_list

__all__ = [
    "completed_keys",
    "counts",
    "job",
    "job_ids",
    "jobs_page",
    "manifest",
    "manifests",
]

_ALL_STATUSES = json_list(JobStatus)


def counts(conn: sqlite3.Connection, batch_id: str) -> dict[JobStatus, int]:
    rows = conn.execute(
        "SELECT status, COUNT(*) FROM jobs WHERE batch_id = ? GROUP BY status", (batch_id,)
    )
    return {JobStatus(status): n for status, n in rows}


def manifest(conn: sqlite3.Connection, batch_id: str) -> BatchManifest | None:
    row = conn.execute("SELECT * FROM batches WHERE batch_id = ?", (batch_id,)).fetchone()
    return None if row is None else codec.manifest_from_row(row, counts(conn, batch_id))


def manifests(conn: sqlite3.Connection, limit: int | None) -> list[BatchManifest]:
    """Newest first; the counts of all of them in one grouped query."""
    rows = conn.execute(
        "SELECT * FROM batches ORDER BY created_at DESC, rowid DESC LIMIT ?",
        (-1 if limit is None else limit,),
    ).fetchall()
    found: dict[str, dict[JobStatus, int]] = {row["batch_id"]: {} for row in rows}
    for batch_id, status, n in conn.execute(
        "SELECT batch_id, status, COUNT(*) FROM jobs "
        "WHERE batch_id IN (SELECT value FROM json_each(?)) GROUP BY batch_id, status",
        (json_list(found),),
    ):
        found[batch_id][JobStatus(status)] = n
    return [codec.manifest_from_row(row, found[row["batch_id"]]) for row in rows]


def job(conn: sqlite3.Connection, job_id: str) -> BatchJob | None:
    row = conn.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    return None if row is None else codec.job_from_row(row, _attempts(conn, [job_id])[job_id])


def jobs_page(
    conn: sqlite3.Connection,
    batch_id: str,
    statuses: Collection[JobStatus] | None,
    *,
    after: int,
    size: int,
) -> list[BatchJob]:
    """Up to ``size`` jobs with row_index > ``after``, in row order (keyset pagination).

    Walking the (batch_id, row_index) index and filtering status costs one pass over
    the batch in total, however many pages; the status index would sort every page.
    """
    rows = conn.execute(
        "SELECT * FROM jobs INDEXED BY jobs_batch_row WHERE batch_id = ? AND row_index > ? "
        "AND status IN (SELECT value FROM json_each(?)) ORDER BY row_index LIMIT ?",
        (batch_id, after, _statuses(statuses), size),
    ).fetchall()
    attempts = _attempts(conn, [row["job_id"] for row in rows])
    return [codec.job_from_row(row, attempts[row["job_id"]]) for row in rows]


def job_ids(
    conn: sqlite3.Connection, batch_id: str, statuses: Collection[JobStatus] | None
) -> list[str]:
    rows = conn.execute(
        "SELECT job_id FROM jobs WHERE batch_id = ? "
        "AND status IN (SELECT value FROM json_each(?)) ORDER BY row_index",
        (batch_id, _statuses(statuses)),
    )
    return [job_id for (job_id,) in rows]


def job_ids_after(
    conn: sqlite3.Connection,
    batch_id: str,
    statuses: Collection[JobStatus] | None,
    after_row: int,
    limit: int,
) -> list[tuple[str, int]]:
    """(job_id, row_index) of the next ``limit`` jobs past ``after_row``, in row order."""
    rows = conn.execute(
        "SELECT job_id, row_index FROM jobs WHERE batch_id = ? AND row_index > ? "
        "AND status IN (SELECT value FROM json_each(?)) ORDER BY row_index LIMIT ?",
        (batch_id, after_row, _statuses(statuses), limit),
    )
    return [(str(job_id), int(row_index)) for job_id, row_index in rows]


def completed_keys(
    conn: sqlite3.Connection, flow_name: str, keys: Collection[str]
) -> dict[str, str]:
    """row_key -> batch_id of the first completed job with that key in a batch of that flow."""
    found: dict[str, str] = {}
    rows = conn.execute(
        "SELECT j.row_key, j.batch_id FROM jobs AS j INDEXED BY jobs_row_key "
        "JOIN batches AS b USING (batch_id) "
        "WHERE j.row_key IN (SELECT value FROM json_each(?)) AND j.row_key != '' "
        "AND j.status = 'completed' AND b.flow_name = ? ORDER BY j.finished_at",
        (json_list(keys), flow_name),
    )
    for key, batch_id in rows:
        found.setdefault(key, batch_id)
    return found


def _statuses(statuses: Collection[JobStatus] | None) -> str:
    return _ALL_STATUSES if statuses is None else json_list(statuses)


def _attempts(conn: sqlite3.Connection, job_ids: list[str]) -> dict[str, list[AttemptRecord]]:
    """The attempts of many jobs in one query."""
    found: dict[str, list[AttemptRecord]] = {job_id: [] for job_id in job_ids}
    rows = conn.execute(
        "SELECT * FROM attempts WHERE job_id IN (SELECT value FROM json_each(?)) "
        "ORDER BY job_id, number",
        (json_list(found),),
    )
    for row in rows:
        found[row["job_id"]].append(codec.attempt_from_row(row))
    return found
