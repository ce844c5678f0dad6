"""The dashboard's sessions, in the store rather than one server's memory.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

A session opened on one ``batchwright serve`` is known to every server on the store,
and survives a restart. Only the SHA-256 of the cookie's token is kept (the CSRF token
is derived from the token, never stored): a leaked store signs nobody in. Times are
wall-clock UTC; ``expires_at`` is indexed for the bounded purge of expired rows.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_sessions",
        sa.Column("token_sha256", sa.Text, primary_key=True),
        sa.Column(
            "key_id",
            sa.Text,
            sa.ForeignKey("api_keys.key_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Text, nullable=False),
    )
    op.create_index("service_sessions_expires_at", "service_sessions", ["expires_at"])
