"""Faults: how many attempts of a run lost their worker, and why the run was last requeued.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("lost_leases", sa.Integer, nullable=False, server_default="0"))
    op.add_column("runs", sa.Column("requeue_reason", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("runs", "requeue_reason")
    op.drop_column("runs", "lost_leases")
