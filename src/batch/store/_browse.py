"""Browsing the store for the HTTP API: batches and jobs in pages, filtered and searched.

Kept apart from ``manifest.py`` (the engine's API): these reads serve people looking
for a batch or a row. Pages are keyset pages (a cursor: the last item's sort key) or
offset pages; every filter is a bound parameter, every statement the same text on
both backends but for the JSON functions of ``_dialect``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from batch.models import BatchJob, BatchManifest, BatchStatus, JobStatus
from batch.store import _codec as codec
from batch.store import _reads as reads
from batch.store._dialect import each, json_list
from runtime.outcome import ErrorCategory

__all__ = ["BatchFilter", "BatchPosition", "BrowseReads", "JobFilter"]


@dataclass(frozen=True, slots=True)
class BatchFilter:
    """Which batches to list; None means any."""

    statuses: Collection[BatchStatus] | None = None
    flow: str | None = None
    created_after: datetime | None = None
    """Strictly after."""
    created_before: datetime | None = None
    """Strictly before."""


@dataclass(frozen=True, slots=True)
class BatchPosition:
    """Where a keyset page of batches (newest first) resumes: after this batch."""

    created_at: datetime
    batch_id: str


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Which jobs of a batch to list; None means any.

    ``search``: a substring (ASCII case-insensitive) of one of the row's values, the
    ``hidden`` columns (the batch's secret columns) never searched."""

    statuses: Collection[JobStatus] | None = None
    categories: Collection[ErrorCategory] | None = None
    search: str | None = None
    hidden: Collection[str] = ()


def _batch_where(backend: str, filters: BatchFilter) -> tuple[list[str], dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if filters.statuses is not None:
        clauses.append(f"status IN {each(backend, 'statuses')}")
        params["statuses"] = json_list(filters.statuses)
    if filters.flow is not None:
        clauses.append("flow_name = :flow")
        params["flow"] = filters.flow
    if filters.created_after is not None:
        clauses.append("created_at > :after")
        params["after"] = codec.to_iso(filters.created_after)
    if filters.created_before is not None:
        clauses.append("created_at < :before")
        params["before"] = codec.to_iso(filters.created_before)
    return clauses, params


def _where(clauses: list[str]) -> str:
    return f" WHERE {' AND '.join(clauses)}" if clauses else ""


def batches_page(
    conn: Connection,
    filters: BatchFilter,
    *,
    limit: int,
    position: BatchPosition | None = None,
    offset: int = 0,
) -> tuple[list[BatchManifest], int]:
    """Newest first (ties by batch id), with their counts; and how many match in all."""
    backend = conn.dialect.name
    clauses, params = _batch_where(backend, filters)
    total = int(
        conn.execute(text(f"SELECT COUNT(*) FROM batches{_where(clauses)}"), params).scalar_one()
    )
    if position is not None:
        clauses.append("(created_at < :pos_at OR (created_at = :pos_at AND batch_id < :pos_id))")
        params |= {"pos_at": codec.to_iso(position.created_at), "pos_id": position.batch_id}
    sql = (
        f"SELECT * FROM batches{_where(clauses)} "
        "ORDER BY created_at DESC, batch_id DESC LIMIT :limit OFFSET :offset"
    )
    rows = conn.execute(text(sql), params | {"limit": limit, "offset": offset}).mappings()
    found = list(rows)
    counts = reads.grouped_counts(conn, [row["batch_id"] for row in found])
    return [codec.manifest_from_row(row, counts[row["batch_id"]]) for row in found], total


def _search_clause(backend: str) -> str:
    """A row value (not of a hidden column) containing ``:q``, ignoring ASCII case."""
    if backend == "sqlite":
        return (
            "EXISTS (SELECT 1 FROM json_each(jobs.row_data) AS kv "
            f"WHERE kv.key NOT IN {each(backend, 'hidden')} "
            "AND instr(lower(kv.value), lower(:q)) > 0)"
        )
    return (
        "EXISTS (SELECT 1 FROM json_each_text(CAST(jobs.row_data AS json)) AS kv "
        f"WHERE kv.key NOT IN {each(backend, 'hidden')} "
        "AND strpos(lower(kv.value), lower(:q)) > 0)"
    )


def jobs_page(
    conn: Connection,
    batch_id: str,
    filters: JobFilter,
    *,
    limit: int,
    after: int = -1,
    offset: int = 0,
) -> list[BatchJob]:
    """Jobs with row_index > ``after`` matching ``filters``, in row order, with attempts."""
    backend = conn.dialect.name
    params: dict[str, Any] = {"batch_id": batch_id, "after": after}
    clauses = ["batch_id = :batch_id", "row_index > :after"]
    if filters.statuses is not None:
        clauses.append(f"status IN {each(backend, 'statuses')}")
        params["statuses"] = json_list(filters.statuses)
    if filters.categories is not None:
        clauses.append(f"error_category IN {each(backend, 'categories')}")
        params["categories"] = json_list(filters.categories)
    if filters.search:
        clauses.append(_search_clause(backend))
        params |= {"q": filters.search, "hidden": json_list(filters.hidden)}
    indexed = " INDEXED BY jobs_batch_row" if backend == "sqlite" else ""
    sql = (
        f"SELECT * FROM jobs{indexed}{_where(clauses)} "
        "ORDER BY row_index LIMIT :limit OFFSET :offset"
    )
    rows = conn.execute(text(sql), params | {"limit": limit, "offset": offset}).mappings()
    found = list(rows)
    attempts = reads.attempts_of(conn, [row["job_id"] for row in found])
    return [codec.job_from_row(row, attempts[row["job_id"]]) for row in found]


class BrowseReads:
    """``ManifestStore``'s browsing methods (mixed in; it provides ``_tx``). Each read
    is one snapshot."""

    _tx: Callable[..., AbstractContextManager[Connection]]

    def browse_batches(
        self,
        filters: BatchFilter = BatchFilter(),
        *,
        limit: int = 50,
        position: BatchPosition | None = None,
        offset: int = 0,
    ) -> tuple[list[BatchManifest], int]:
        """A page of batches, newest first: after ``position`` (keyset) and/or skipping
        ``offset``; and the number of batches matching ``filters`` in all."""
        with self._tx(write=False) as conn:
            return batches_page(conn, filters, limit=limit, position=position, offset=offset)

    def browse_jobs(
        self,
        batch_id: str,
        filters: JobFilter = JobFilter(),
        *,
        limit: int = 50,
        after: int = -1,
        offset: int = 0,
    ) -> list[BatchJob]:
        """A page of a batch's jobs in row order: row_index > ``after``, then ``offset``."""
        with self._tx(write=False) as conn:
            return jobs_page(conn, batch_id, filters, limit=limit, after=after, offset=offset)

    def iter_browse_jobs(
        self, batch_id: str, filters: JobFilter, *, page: int = 200, after: int = -1
    ) -> Iterator[BatchJob]:
        """Matching jobs past ``after`` in row order, a short read per page."""
        while found := self.browse_jobs(batch_id, filters, limit=page, after=after):
            yield from found
            after = found[-1].row_index
