"""Schedules and the slots they fired (``batchwright schedule``, docs/schedules.md).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

``schedule_runs`` has one row per (schedule, slot): taking a slot is inserting its
row, so of two service instances on one store exactly one fires it. The row keeps
what came of the slot (fired, skipped and why, failed) and the batch it created.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ZERO = sa.text("0")


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("cron", sa.Text, nullable=False),
        sa.Column("timezone", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("flow", sa.Text, nullable=False),
        sa.Column("options", sa.Text, nullable=False, server_default="{}"),
        sa.Column("paused", sa.Integer, nullable=False, server_default=_ZERO),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("since", sa.Text, nullable=False),
        sa.Column("last_slot", sa.Text),
        sa.Column("last_outcome", sa.Text),
        sa.Column("last_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("last_batch_id", sa.Text),
        sa.CheckConstraint("paused IN (0, 1)"),
        sa.CheckConstraint("last_outcome IN ('fired', 'skipped', 'failed')"),
    )
    op.create_table(
        "schedule_runs",
        sa.Column(
            "schedule_name",
            sa.Text,
            sa.ForeignKey("schedules.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("slot", sa.Text, primary_key=True),
        sa.Column("taken_at", sa.Text, nullable=False),
        sa.Column("taken_by", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("batch_id", sa.Text),
        sa.CheckConstraint("outcome IN ('fired', 'skipped', 'failed')"),
    )
    op.create_index("schedule_runs_batch", "schedule_runs", ["batch_id"])
