"""Resource pools: each batch's pool entries and their leases; what each attempt leased.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

``pool_entries`` holds the entries of a batch's pools (read from the pool CSVs when
the batch is created, so workers on other machines lease them without the file).
A lease names the job and its attempt token: it is live only while that job runs
under that token with an unexpired lease, so it ends with the job's lease.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_FLOAT = sa.Float().with_variant(sa.REAL(), "sqlite")
_ZERO = sa.text("0")


def upgrade() -> None:
    op.create_table(
        "pool_entries",
        sa.Column(
            "batch_id",
            sa.Text,
            sa.ForeignKey("batches.batch_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("pool", sa.Text, primary_key=True),
        sa.Column("entry_key", sa.Text, primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("uses", sa.Integer, nullable=False, server_default=_ZERO),
        sa.Column("available_at", sa.Text),
        sa.Column("unusable", sa.Integer, nullable=False, server_default=_ZERO),
        sa.Column("unusable_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("lease_job_id", sa.Text),
        sa.Column("lease_token", sa.Text),
        sa.CheckConstraint("unusable IN (0, 1)"),
    )
    op.create_index("pool_entries_token", "pool_entries", ["lease_token"])
    op.add_column("attempts", sa.Column("pool", sa.Text, nullable=False, server_default="{}"))
    op.add_column(
        "attempts", sa.Column("pool_wait_s", _FLOAT, nullable=False, server_default=_ZERO)
    )
    op.add_column(
        "attempts", sa.Column("pool_unusable", sa.Text, nullable=False, server_default="[]")
    )
