"""Live progress and webhooks: a per-batch event sequence, webhook subscriptions,
their deliveries and every delivery attempt.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

``batches.event_seq`` is the batch's counter of row status changes; ``jobs.event_seq``
is the counter's value at the job's newest change, set in the transaction that made
it. Rows never changed keep 0, outside the partial index, so ingestion does not pay
for it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ZERO = sa.text("0")
_FLOAT = sa.Float().with_variant(sa.REAL(), "sqlite")


def upgrade() -> None:
    op.add_column(
        "batches", sa.Column("event_seq", sa.Integer, nullable=False, server_default=_ZERO)
    )
    op.add_column("jobs", sa.Column("event_seq", sa.Integer, nullable=False, server_default=_ZERO))
    changed = sa.text("event_seq > 0")
    op.create_index(
        "jobs_batch_event_seq",
        "jobs",
        ["batch_id", "event_seq"],
        sqlite_where=changed,
        postgresql_where=changed,
    )
    op.create_table(
        "webhooks",
        sa.Column("webhook_id", sa.Text, primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("batch_id", sa.Text, sa.ForeignKey("batches.batch_id", ondelete="CASCADE")),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.CheckConstraint("origin IN ('api', 'settings')"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.Text, primary_key=True),
        sa.Column(
            "webhook_id",
            sa.Text,
            sa.ForeignKey("webhooks.webhook_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("batch_id", sa.Text, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=_ZERO),
        sa.Column("next_attempt_at", sa.Text),
        sa.Column("claimed_by", sa.Text),
        sa.Column("claim_expires_at", sa.Text),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.CheckConstraint("state IN ('pending', 'delivered', 'failed')"),
        sa.UniqueConstraint("webhook_id", "batch_id", "event"),
    )
    pending = sa.text("state = 'pending'")
    op.create_index(
        "webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        sqlite_where=pending,
        postgresql_where=pending,
    )
    op.create_index("webhook_deliveries_batch", "webhook_deliveries", ["batch_id"])
    op.create_table(
        "webhook_attempts",
        sa.Column(
            "delivery_id",
            sa.Text,
            sa.ForeignKey("webhook_deliveries.delivery_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("started_at", sa.Text, nullable=False),
        sa.Column("duration_s", _FLOAT, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("next_attempt_at", sa.Text),
    )
