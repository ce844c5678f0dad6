"""The service's tables: API keys (hashed) and idempotency keys of batch creation.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Only a key's SHA-256 is stored: a leaked store does not leak usable keys. A key's
``key_id`` is the public prefix written inside the key itself, so a request finds its
row by one indexed read and compares the hash in constant time.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("key_sha256", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("revoked_at", sa.Text),
        sa.CheckConstraint("scope IN ('read', 'write')"),
    )
    active = sa.text("revoked_at IS NULL")
    op.create_index(
        "api_keys_active_name",
        "api_keys",
        ["name"],
        unique=True,
        sqlite_where=active,
        postgresql_where=active,
    )
    # One row per (principal, Idempotency-Key): a repeated create returns batch_id.
    op.create_table(
        "idempotency_keys",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("idempotency_key", sa.Text, primary_key=True),
        sa.Column("request_sha256", sa.Text, nullable=False),
        sa.Column(
            "batch_id",
            sa.Text,
            sa.ForeignKey("batches.batch_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", sa.Text, nullable=False),
    )
