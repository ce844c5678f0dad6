"""The bulk insert of a batch's jobs: the fastest path each backend has.

SQLite: the driver's ``executemany`` per chunk (no SQLAlchemy layer per row).
PostgreSQL: one ``COPY ... FROM STDIN`` streamed a row at a time (psycopg flushes
its buffer as it fills), so memory stays flat for a million rows; a big import is
followed by ``ANALYZE``, without which the planner, still believing the table small,
sorts whole batches to read one page of them. Both run inside the caller's
transaction: a failure midway leaves nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection

from batch.exceptions import StoreError
from batch.store._codec import JOB_COLUMNS

__all__ = ["insert_jobs"]

_COLUMNS = ", ".join(JOB_COLUMNS)
_INSERT = f"INSERT INTO jobs ({_COLUMNS}) VALUES ({', '.join('?' * len(JOB_COLUMNS))})"
_COPY = f"COPY jobs ({_COLUMNS}) FROM STDIN"
_ANALYZE_FROM = 10_000
"""Rows imported at once past which PostgreSQL's statistics are refreshed."""


def insert_jobs(conn: Connection, chunks: Iterable[Sequence[tuple[Any, ...]]]) -> int:
    """Insert every chunk of ``JOB_COLUMNS`` tuples; returns how many rows."""
    raw: Any = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        return _executemany(raw, chunks)
    return _copy(raw, chunks)


def _executemany(raw: sqlite3.Connection, chunks: Iterable[Sequence[tuple[Any, ...]]]) -> int:
    inserted = 0
    try:
        for chunk in chunks:
            raw.executemany(_INSERT, chunk)
            inserted += len(chunk)
    except sqlite3.IntegrityError as exc:
        raise _refused(exc) from None
    return inserted


def _copy(raw: Any, chunks: Iterable[Sequence[tuple[Any, ...]]]) -> int:
    import psycopg  # noqa: PLC0415 - only PostgreSQL stores pay for importing it

    inserted = 0
    try:
        with raw.cursor() as cursor, cursor.copy(_COPY) as copy:
            for chunk in chunks:
                for row in chunk:
                    copy.write_row(row)
                inserted += len(chunk)
        if inserted >= _ANALYZE_FROM:
            raw.execute("ANALYZE jobs")
    except psycopg.errors.IntegrityError as exc:
        raise _refused(exc) from None
    return inserted


def _refused(exc: Exception) -> StoreError:
    return StoreError(f"the jobs could not be stored: {exc}")
