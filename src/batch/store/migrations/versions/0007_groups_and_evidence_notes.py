"""Groups of batches (many CSVs in one run) and a note per attempt (the artifact cap).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

``batch_groups`` holds one row per ``run`` of several CSVs, with the files that were
refused (path and error); ``batch_group_members`` ties each batch created by it to
the group, in file order. Deleting a batch drops its membership; a group whose
batches are all gone still names its refused files. ``attempts.note`` says why an
attempt's evidence was not written.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "attempts", sa.Column("note", sa.Text, nullable=False, server_default=sa.text("''"))
    )
    op.create_table(
        "batch_groups",
        sa.Column("group_id", sa.Text, primary_key=True),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("flow_ref", sa.Text, nullable=False),
        sa.Column("sources", sa.Text, nullable=False, server_default="[]"),
        sa.Column("refused", sa.Text, nullable=False, server_default="[]"),
    )
    op.create_table(
        "batch_group_members",
        sa.Column(
            "group_id",
            sa.Text,
            sa.ForeignKey("batch_groups.group_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "batch_id",
            sa.Text,
            sa.ForeignKey("batches.batch_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("batch_group_members_batch", "batch_group_members", ["batch_id"], unique=True)
