"""The initial schema: batches, jobs, attempts (batchwright's SQLite schema version 1).

Revision ID: 0001
Revises:
Create Date: 2026-12-02

A SQLite file written before migrations existed (``PRAGMA user_version = 1``, no
``alembic_version`` table) already has exactly these tables: it is stamped with
this revision instead of running it.
"""

import sqlalchemy as sa
from alembic import op

from batch.models import BatchStatus, JobStatus

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _one_of(column: str, values: list[str]) -> sa.CheckConstraint:
    listed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({listed})")


# Spelled so that a new SQLite file is column for column a file written before
# migrations: its TEXT primary keys allowed NULL (PostgreSQL's never do), its float
# was REAL (double precision on PostgreSQL) and its integer defaults unquoted.
_FLOAT = sa.Float().with_variant(sa.REAL(), "sqlite")
_ZERO = sa.text("0")


def upgrade() -> None:
    # ``total`` and the per-status counts are deliberately not columns: they are derived
    # from ``jobs`` on every read, so they can never drift from the jobs themselves.
    op.create_table(
        "batches",
        sa.Column("batch_id", sa.Text, primary_key=True, nullable=True),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("csv_path", sa.Text, nullable=False),
        sa.Column("csv_sha256", sa.Text, nullable=False),
        sa.Column("encoding", sa.Text, nullable=False),
        sa.Column("dialect", sa.Text, nullable=False),
        sa.Column("headers", sa.Text, nullable=False),
        sa.Column("flow_ref", sa.Text, nullable=False),
        sa.Column("flow_name", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("settings", sa.Text, nullable=False, server_default="{}"),
        sa.Column("cancel_requested", sa.Integer, nullable=False, server_default=_ZERO),
        sa.Column("owner", sa.Text),
        sa.Column("lease_expires_at", sa.Text),
        _one_of("status", [s.value for s in BatchStatus]),
        sa.CheckConstraint("cancel_requested IN (0, 1)"),
    )
    op.create_index("batches_flow_name", "batches", ["flow_name"])
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.Text, primary_key=True, nullable=True),
        sa.Column(
            "batch_id",
            sa.Text,
            sa.ForeignKey("batches.batch_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("row_index", sa.Integer, nullable=False),
        sa.Column("source_line", sa.Integer, nullable=False),
        sa.Column("row_data", sa.Text, nullable=False),
        sa.Column("row_key", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("error_category", sa.Text),
        sa.Column("error_message", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("started_at", sa.Text),
        sa.Column("finished_at", sa.Text),
        sa.Column("extracted", sa.Text, nullable=False, server_default="{}"),
        sa.Column("reached_commit", sa.Integer, nullable=False, server_default=_ZERO),
        sa.Column("attempt_token", sa.Text),
        sa.Column("lease_owner", sa.Text),
        sa.Column("lease_expires_at", sa.Text),
        _one_of("status", [s.value for s in JobStatus]),
        sa.CheckConstraint("reached_commit IN (0, 1)"),
    )
    op.create_index("jobs_batch_row", "jobs", ["batch_id", "row_index"], unique=True)
    op.create_index("jobs_batch_status", "jobs", ["batch_id", "status"])
    op.create_index("jobs_row_key", "jobs", ["row_key"])
    owned = sa.text("lease_owner IS NOT NULL")
    op.create_index(
        "jobs_lease_owner", "jobs", ["lease_owner"], sqlite_where=owned, postgresql_where=owned
    )
    op.create_table(
        "attempts",
        sa.Column(
            "job_id",
            sa.Text,
            sa.ForeignKey("jobs.job_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("started_at", sa.Text, nullable=False),
        sa.Column("duration_s", _FLOAT, nullable=False),
        sa.Column("ok", sa.Integer, nullable=False),
        sa.Column("category", sa.Text),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("artifacts", sa.Text, nullable=False, server_default="[]"),
        sa.CheckConstraint("ok IN (0, 1)"),
        sqlite_with_rowid=False,
    )
