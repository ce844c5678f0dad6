"""Each attempt records the host (``hostname:pid``) that ran it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

With workers on several machines, a failure that only one machine shows (a missing
font, a full disk, another network) is found by looking at where each attempt ran.
Attempts recorded before this revision have an empty host.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both backends (SQLite allows NOT NULL with a default), so
    # SQLite keeps the table as it is instead of copying it.
    op.add_column("attempts", sa.Column("host", sa.Text, nullable=False, server_default=""))
