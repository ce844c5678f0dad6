"""The manifest store's read queries: manifests with derived counts, jobs in pages.

Each function runs inside a transaction its caller (``ManifestStore``) opened, so
a manifest and its counts come from one snapshot. Attempts are loaded for a whole
page of jobs in one query, never one query per job.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection, bindparam, text

from batch.models import AttemptRecord, BatchJob, BatchManifest, JobStatus
from batch.store import _codec as codec
from batch.store._dialect import each, json_list, statement

__all__ = [
    "any_job_in",
    "attempts_of",
    "completed_keys",
    "counts",
    "grouped_counts",
    "job",
    "job_ids",
    "job_ids_after",
    "jobs_page",
    "manifest",
    "manifests",
]

_ALL_STATUSES = json_list(JobStatus)


def counts(conn: Connection, batch_id: str) -> dict[JobStatus, int]:
    rows = conn.execute(
        text("SELECT status, COUNT(*) FROM jobs WHERE batch_id = :batch_id GROUP BY status"),
        {"batch_id": batch_id},
    )
    return {JobStatus(status): n for status, n in rows}


_ANY_JOB_IN = text(
    "SELECT 1 FROM jobs WHERE batch_id = :batch_id AND status IN :statuses LIMIT 1"
).bindparams(bindparam("statuses", expanding=True))


def any_job_in(conn: Connection, batch_id: str, statuses: Collection[JobStatus]) -> bool:
    """One index probe, where ``counts`` reads every job of the batch."""
    params = {"batch_id": batch_id, "statuses": [s.value for s in statuses]}
    return conn.execute(_ANY_JOB_IN, params).first() is not None


def manifest(conn: Connection, batch_id: str) -> BatchManifest | None:
    row = (
        conn.execute(
            text("SELECT * FROM batches WHERE batch_id = :batch_id"), {"batch_id": batch_id}
        )
        .mappings()
        .fetchone()
    )
    return None if row is None else codec.manifest_from_row(row, counts(conn, batch_id))


def manifests(conn: Connection, limit: int | None) -> list[BatchManifest]:
    """Newest first; the counts of all of them in one grouped query."""
    rows = (
        conn.execute(statement(conn, _manifests_sql), {"limit": _no_limit(conn, limit)})
        .mappings()
        .fetchall()
    )
    found = grouped_counts(conn, [row["batch_id"] for row in rows])
    return [codec.manifest_from_row(row, found[row["batch_id"]]) for row in rows]


def grouped_counts(conn: Connection, batch_ids: list[str]) -> dict[str, dict[JobStatus, int]]:
    """The counts of many batches in one grouped query."""
    found: dict[str, dict[JobStatus, int]] = {batch_id: {} for batch_id in batch_ids}
    for batch_id, status, n in conn.execute(
        statement(conn, _grouped_counts_sql), {"ids": json_list(found)}
    ):
        found[batch_id][JobStatus(status)] = n
    return found


def _manifests_sql(backend: str) -> str:
    # Batches created in the same microsecond: SQLite's rowid keeps insertion order.
    tie = "rowid" if backend == "sqlite" else "batch_id"
    return f"SELECT * FROM batches ORDER BY created_at DESC, {tie} DESC LIMIT :limit"


def _grouped_counts_sql(backend: str) -> str:
    return (
        "SELECT batch_id, status, COUNT(*) FROM jobs "
        f"WHERE batch_id IN {each(backend, 'ids')} GROUP BY batch_id, status"
    )


def job(conn: Connection, job_id: str) -> BatchJob | None:
    row = (
        conn.execute(text("SELECT * FROM jobs WHERE job_id = :job_id"), {"job_id": job_id})
        .mappings()
        .fetchone()
    )
    return None if row is None else codec.job_from_row(row, attempts_of(conn, [job_id])[job_id])


def jobs_page(
    conn: Connection,
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
    params = {"batch_id": batch_id, "after": after, "statuses": _statuses(statuses), "size": size}
    rows = conn.execute(statement(conn, _jobs_page_sql), params).mappings().fetchall()
    attempts = attempts_of(conn, [row["job_id"] for row in rows])
    return [codec.job_from_row(row, attempts[row["job_id"]]) for row in rows]


def _jobs_page_sql(backend: str) -> str:
    indexed = " INDEXED BY jobs_batch_row" if backend == "sqlite" else ""
    return (
        f"SELECT * FROM jobs{indexed} WHERE batch_id = :batch_id AND row_index > :after "
        f"AND status IN {each(backend, 'statuses')} ORDER BY row_index LIMIT :size"
    )


def _job_ids_sql(backend: str) -> str:
    return (
        "SELECT job_id, row_index FROM jobs WHERE batch_id = :batch_id AND row_index > :after "
        f"AND status IN {each(backend, 'statuses')} ORDER BY row_index"
    )


def _job_ids_page_sql(backend: str) -> str:
    return _job_ids_sql(backend) + " LIMIT :limit"


def job_ids(conn: Connection, batch_id: str, statuses: Collection[JobStatus] | None) -> list[str]:
    rows = conn.execute(
        statement(conn, _job_ids_sql),
        {"batch_id": batch_id, "after": -1, "statuses": _statuses(statuses)},
    )
    return [job_id for job_id, _ in rows]


def job_ids_after(
    conn: Connection,
    batch_id: str,
    statuses: Collection[JobStatus] | None,
    after_row: int,
    limit: int,
) -> list[tuple[str, int]]:
    """(job_id, row_index) of the next ``limit`` jobs past ``after_row``, in row order."""
    params = {
        "batch_id": batch_id,
        "after": after_row,
        "statuses": _statuses(statuses),
        "limit": limit,
    }
    rows = conn.execute(statement(conn, _job_ids_page_sql), params)
    return [(str(job_id), int(row_index)) for job_id, row_index in rows]


def completed_keys(conn: Connection, flow_name: str, keys: Collection[str]) -> dict[str, str]:
    """row_key -> batch_id of the first completed job with that key in a batch of that flow."""
    found: dict[str, str] = {}
    rows = conn.execute(
        statement(conn, _completed_keys_sql), {"keys": json_list(keys), "flow": flow_name}
    )
    for key, batch_id in rows:
        found.setdefault(key, batch_id)
    return found


def _completed_keys_sql(backend: str) -> str:
    indexed = " INDEXED BY jobs_row_key" if backend == "sqlite" else ""
    return (
        f"SELECT j.row_key, j.batch_id FROM jobs AS j{indexed} "
        "JOIN batches AS b USING (batch_id) "
        f"WHERE j.row_key IN {each(backend, 'keys')} AND j.row_key != '' "
        "AND j.status = 'completed' AND b.flow_name = :flow ORDER BY j.finished_at"
    )


def _attempts_sql(backend: str) -> str:
    return f"SELECT * FROM attempts WHERE job_id IN {each(backend, 'ids')} ORDER BY job_id, number"


def _no_limit(conn: Connection, limit: int | None) -> int | None:
    """SQLite spells "no limit" ``LIMIT -1``, PostgreSQL ``LIMIT NULL``."""
    return -1 if limit is None and conn.dialect.name == "sqlite" else limit


def _statuses(statuses: Collection[JobStatus] | None) -> str:
    return _ALL_STATUSES if statuses is None else json_list(statuses)


def attempts_of(conn: Connection, job_ids: list[str]) -> dict[str, list[AttemptRecord]]:
    """The attempts of many jobs in one query."""
    found: dict[str, list[AttemptRecord]] = {job_id: [] for job_id in job_ids}
    rows = conn.execute(statement(conn, _attempts_sql), {"ids": json_list(found)}).mappings()
    for row in rows:
        found[row["job_id"]].append(codec.attempt_from_row(row))
    return found
