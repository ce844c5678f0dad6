"""Connections to the store and its transactions, the same way on SQLite and PostgreSQL.

SQLAlchemy runs the driver in autocommit mode and every transaction is begun and
ended here explicitly, so each backend gets the begin it needs: SQLite's
``BEGIN IMMEDIATE`` takes the write lock up front (two processes never deadlock
upgrading a read), PostgreSQL's reads see one snapshot (``REPEATABLE READ``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from batch.exceptions import StoreError
from batch.store._url import StoreUrl

__all__ = ["BUSY_TIMEOUT_S", "Database", "driver_error"]

BUSY_TIMEOUT_S = 10.0
"""How long a writer waits for another process's write transaction before giving up."""

_BEGIN = {
    ("sqlite", True): "BEGIN IMMEDIATE",
    ("sqlite", False): "BEGIN DEFERRED",
    ("postgresql", True): "BEGIN",
    ("postgresql", False): "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
}


def _open_engine(url: StoreUrl) -> Engine:
    """An engine for ``url``; a SQLite file's directory is created, its pragmas set."""
    if url.backend == "sqlite":
        path = url.path
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url.connect_url(),
            isolation_level="AUTOCOMMIT",
            hide_parameters=True,
            connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url.connect_url(),
        isolation_level="AUTOCOMMIT",
        hide_parameters=True,  # rows may hold secrets: never in an error message
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
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """``journal_mode = WAL`` needs the file to itself, and SQLite answers "database is
    locked" at once, without its busy handler, while another process opening a new
    store does the same: wait for it as for any other writer."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class Database:
    """The engine of one store and how its transactions run.

    SQLite keeps one connection open for the store's life and begins and ends its
    transactions on the driver itself: a move costs what it cost with bare sqlite3.
    PostgreSQL takes a pooled connection per transaction, so a connection lost (a
    server restart) fails one call and the next one reconnects.
    """

    def __init__(self, url: StoreUrl) -> None:
        self.url = url
        self.engine = _open_engine(url)
        self._kept: Connection | None = None
        self._closed = False

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Connection]:
        """One transaction, rolled back on any exception. Callers serialise them.

        A database error the caller did not handle becomes a ``StoreError`` with the
        driver's message only (no statement, no parameters: they may hold row data)."""
        if self._closed:  # the engine would quietly reconnect: a closed store stays closed
            raise StoreError(f"the manifest store {self.url} is closed")
        try:
            begin = self._sqlite if self.url.backend == "sqlite" else self._postgresql
            with begin(write) as conn:
                yield conn
        except DBAPIError as exc:
            raise StoreError(f"the manifest store {self.url} failed: {driver_error(exc)}") from exc

    @contextmanager
    def _postgresql(self, write: bool) -> Iterator[Connection]:
        try:
            conn = self.engine.connect()
            conn.exec_driver_sql(_BEGIN["postgresql", write])
        except OperationalError as exc:
            raise StoreError(
                f"cannot reach the manifest store {self.url}: {driver_error(exc)}"
            ) from None
        with conn:
            try:
                yield conn
            except BaseException:
                with suppress(DBAPIError):  # a lost connection has nothing left to undo
                    conn.exec_driver_sql("ROLLBACK")
                raise
            conn.exec_driver_sql("COMMIT")

    @contextmanager
    def _sqlite(self, write: bool) -> Iterator[Connection]:
        if self._kept is None:
            try:
                self._kept = self.engine.connect()
            except DBAPIError as exc:
                raise StoreError(
                    f"cannot open the manifest store {self.url}: {driver_error(exc)} "
                    "(is it a batchwright database? move it aside to start a new one)"
                ) from None
        raw: sqlite3.Connection = self._kept.connection.driver_connection  # type: ignore[assignment]
        try:
            raw.execute(_BEGIN["sqlite", write])
        except sqlite3.OperationalError as exc:
            raise _busy(self.url, exc) from None
        try:
            yield self._kept
        except BaseException:
            if raw.in_transaction:  # SQLite may have rolled back already (disk full)
                raw.execute("ROLLBACK")
            raise
        raw.execute("COMMIT")

    def close(self) -> None:
        self._closed = True
        if self._kept is not None:
            self._kept.close()
            self._kept = None
        self.engine.dispose()


def driver_error(exc: DBAPIError) -> str:
    """The driver's own message, without SQLAlchemy's statement and link."""
    return str(exc.orig).strip() if exc.orig is not None else str(exc)


def _busy(url: StoreUrl, exc: sqlite3.OperationalError) -> StoreError:
    return StoreError(
        f"the manifest store {url} is busy: {exc} (another batchwright process held its "
        f"write lock for more than {BUSY_TIMEOUT_S:g} s; try again when its import finishes)"
    )
