"""Connections to the store and its transactions, the same way on SQLite and PostgreSQL.

SQLAlchemy runs the driver in autocommit mode and every transaction is begun and
ended here explicitly, so each backend gets the begin it needs: SQLite's
``BEGIN IMMEDIATE`` takes the write lock up front (two processes never deadlock
upgrading a read), PostgreSQL's reads see one snapshot (``REPEATABLE READ``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from batch.exceptions import StoreError
from batch.store._url import StoreUrl

__all__ = ["BUSY_TIMEOUT_S", "driver_error", "open_engine", "transaction"]

BUSY_TIMEOUT_S = 10.0
"""How long a writer waits for another process's write transaction before giving up."""

_BEGIN = {
    ("sqlite", True): "BEGIN IMMEDIATE",
    ("sqlite", False): "BEGIN DEFERRED",
    ("postgresql", True): "BEGIN",
    ("postgresql", False): "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
}


def open_engine(url: StoreUrl) -> Engine:
    """An engine for ``url``; a SQLite file's directory is created, its pragmas set."""
    if url.backend == "sqlite":
        path = url.path
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url.connect_url(),
            isolation_level="AUTOCOMMIT",
            connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url.connect_url(),
        isolation_level="AUTOCOMMIT",
        pool_size=2,
        connect_args={"connect_timeout": int(BUSY_TIMEOUT_S), "application_name": "batchwright"},
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    """WAL lets readers in other processes (``status``, ``cancel``) run while a batch
    writes; ``synchronous=NORMAL`` is durable across process crashes in WAL mode; the
    busy timeout makes a second writer wait instead of failing at once."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


@contextmanager
def transaction(engine: Engine, url: StoreUrl, *, write: bool = True) -> Iterator[Connection]:
    """One transaction on a pooled connection, rolled back on any exception."""
    try:
        conn = engine.connect()
    except OperationalError as exc:
        raise _unreachable(url, exc) from None
    with conn:
        try:
            conn.exec_driver_sql(_BEGIN[url.backend, write])
        except OperationalError as exc:
            raise _unreachable(url, exc) from None
        try:
            yield conn
        except BaseException:
            _rollback(conn)
            raise
        conn.exec_driver_sql("COMMIT")


def _rollback(conn: Connection) -> None:
    """Undo the open transaction, if the database still has one (SQLite rolls back by
    itself on a full disk; a lost PostgreSQL connection has nothing left to undo)."""
    raw: Any = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        if raw.in_transaction:
            conn.exec_driver_sql("ROLLBACK")
        return
    with suppress(DBAPIError):
        conn.exec_driver_sql("ROLLBACK")


def driver_error(exc: DBAPIError) -> str:
    """The driver's own message, without SQLAlchemy's statement and link."""
    return str(exc.orig).strip() if exc.orig is not None else str(exc)


def _unreachable(url: StoreUrl, exc: OperationalError) -> StoreError:
    if url.backend == "sqlite":
        return StoreError(
            f"the manifest store {url} is busy: {driver_error(exc)} (another batchwright "
            f"process held its write lock for more than {BUSY_TIMEOUT_S:g} s; "
            "try again when its import finishes)"
        )
    return StoreError(f"cannot reach the manifest store {url}: {driver_error(exc)}")
