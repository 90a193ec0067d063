"""Lease secrets: a run keeps the sha256 of its current attempt's secret, which every worker call must carry.

A run that was running when this migration ran has no secret: its worker's calls are refused (409), its lease
expires and the reconciler requeues it, and the next attempt claims it with a secret.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("lease_secret_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("lease_secret_hash")
