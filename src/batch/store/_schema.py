"""The manifest store's SQLite schema and how a connection to it is opened.

Kept apart from ``store.py`` so the queries there read without the DDL around
them. The schema is versioned with ``PRAGMA user_version``: a database written by
a newer batchwright is refused instead of being misread.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from batch.exceptions import StoreError
from batch.models import BatchStatus, JobStatus

__all__ = ["BUSY_TIMEOUT_S", "SCHEMA_VERSION", "connect"]

SCHEMA_VERSION = 1

BUSY_TIMEOUT_S = 10.0
"""How long a writer waits for another process's write transaction before giving up."""


def _one_of(column: str, values: list[str]) -> str:
    listed = ", ".join(f"'{value}'" for value in values)
    return f"CHECK ({column} IN ({listed}))"


_JOB_STATUS = _one_of("status", [s.value for s in JobStatus])
_BATCH_STATUS = _one_of("status", [s.value for s in BatchStatus])

# ``total`` and the per-status counts are deliberately not columns: they are derived
# from ``jobs`` on every read, so they can never drift from the jobs themselves.
_DDL = f"""
CREATE TABLE batches (
    batch_id         TEXT PRIMARY KEY,
    run_id           TEXT NOT NULL,
    csv_path         TEXT NOT NULL,
    csv_sha256       TEXT NOT NULL,
    encoding         TEXT NOT NULL,
    dialect          TEXT NOT NULL,
    headers          TEXT NOT NULL,
    flow_ref         TEXT NOT NULL,
    flow_name        TEXT NOT NULL DEFAULT '',
    created_at       TEXT NOT NULL,
    status           TEXT NOT NULL {_BATCH_STATUS},
    settings         TEXT NOT NULL DEFAULT '{{}}',
    cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    owner            TEXT,
    lease_expires_at TEXT
);
CREATE INDEX batches_flow_name ON batches (flow_name);

CREATE TABLE jobs (
    job_id           TEXT PRIMARY KEY,
    batch_id         TEXT NOT NULL REFERENCES batches (batch_id) ON DELETE CASCADE,
    row_index        INTEGER NOT NULL,
    source_line      INTEGER NOT NULL,
    row_data         TEXT NOT NULL,
    row_key          TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL {_JOB_STATUS},
    error_category   TEXT,
    error_message    TEXT NOT NULL DEFAULT '',
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    finished_at      TEXT,
    extracted        TEXT NOT NULL DEFAULT '{{}}',
    reached_commit   INTEGER NOT NULL DEFAULT 0 CHECK (reached_commit IN (0, 1)),
    attempt_token    TEXT,
    lease_owner      TEXT,
    lease_expires_at TEXT
);
CREATE UNIQUE INDEX jobs_batch_row ON jobs (batch_id, row_index);
CREATE INDEX jobs_batch_status ON jobs (batch_id, status);
CREATE INDEX jobs_row_key ON jobs (row_key);
CREATE INDEX jobs_lease_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL;

CREATE TABLE attempts (
    job_id     TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    number     INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    duration_s REAL NOT NULL,
    ok         INTEGER NOT NULL CHECK (ok IN (0, 1)),
    category   TEXT,
    message    TEXT NOT NULL DEFAULT '',
    artifacts  TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (job_id, number)
) WITHOUT ROWID;

PRAGMA user_version = {SCHEMA_VERSION};
"""


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the store at ``path``, ready for concurrent use.

    WAL lets readers in other processes (``status``, ``cancel``) run while a batch
    writes; ``synchronous=NORMAL`` is durable across process crashes in WAL mode;
    the busy timeout makes a second writer wait instead of failing at once.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # Autocommit mode: every transaction is an explicit BEGIN IMMEDIATE ... COMMIT.
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        _ensure_schema(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(
            f"cannot open the manifest store {path}: {exc} "
            "(is it a batchwright database? move it aside to start a new one)"
        ) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Create the tables on first use; refuse a schema this code does not know."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version == SCHEMA_VERSION:
        return
    # IMMEDIATE takes the write lock first, so two processes opening a new file at
    # once cannot both create the tables.
    conn.execute("BEGIN IMMEDIATE")
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version == 0:
            for statement in _DDL.split(";"):
                if statement.strip():
                    conn.execute(statement)
        elif version != SCHEMA_VERSION:
            raise StoreError(
                f"the manifest store {path} has schema version {version}, this batchwright "
                f"reads version {SCHEMA_VERSION} (use the batchwright that created it, "
                "or point artifacts_dir elsewhere)"
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
