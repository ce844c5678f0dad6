-- The manifest store schema written by batchwright before migrations (PRAGMA user_version 1),
-- rendered from src/batch/store/_schema.py at commit 2bfbb86: test_migrations.py opens such a file.
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
    status           TEXT NOT NULL CHECK (status IN ('created', 'running', 'finished', 'interrupted')),
    settings         TEXT NOT NULL DEFAULT '{}',
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
    status           TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'skipped', 'cancelled', 'needs_review')),
    error_category   TEXT,
    error_message    TEXT NOT NULL DEFAULT '',
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    finished_at      TEXT,
    extracted        TEXT NOT NULL DEFAULT '{}',
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

PRAGMA user_version = 1;
