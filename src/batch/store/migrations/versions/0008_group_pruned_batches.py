"""The batches of a group that a prune removed.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

Deleting a batch drops its membership of its group; ``batch_groups.pruned`` (a JSON
list of batch ids) keeps their ids, so that ``status GROUP`` and ``report GROUP``
show them as pruned rather than forgetting them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "batch_groups",
        sa.Column("pruned", sa.Text, nullable=False, server_default=sa.text("'[]'")),
    )
