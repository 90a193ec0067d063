"""Workers as rows: each worker process's last heartbeat (what it offers, the run it holds, when it was heard).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("host", sa.String(200), nullable=False, server_default=""),
        sa.Column("devices", sa.Integer, nullable=False, server_default="1"),
        sa.Column("slots", sa.JSON, nullable=False),
        sa.Column("gpu", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("queues", sa.JSON, nullable=False),
        sa.Column("version", sa.String(64), nullable=False, server_default=""),
        sa.Column("run_id", sa.BigInteger, nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="online"),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_workers_status", "workers", ["status"])
    op.create_index("ix_workers_last_seen", "workers", ["last_seen"])


def downgrade() -> None:
    op.drop_index("ix_workers_last_seen", "workers")
    op.drop_index("ix_workers_status", "workers")
    op.drop_table("workers")
