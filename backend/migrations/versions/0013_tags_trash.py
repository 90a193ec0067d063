"""Runs and studies get tags and notes, and a trash: `trashed_at` is set by DELETE and cleared by restore.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TABLES = ("runs", "studies")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("tags", sa.JSON, nullable=True))
        op.add_column(table, sa.Column("notes", sa.Text, nullable=False, server_default=""))
        op.add_column(table, sa.Column("trashed_at", sa.DateTime(timezone=True), nullable=True))
        op.create_index(f"ix_{table}_trashed_at", table, ["trashed_at"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_trashed_at", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("trashed_at")
            batch.drop_column("notes")
            batch.drop_column("tags")
