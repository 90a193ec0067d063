"""Quotas and sessions: a run counts the points it recorded; a page's sign-in is a row that can end.

Existing runs start their count at 0 (their points are not recounted). Sessions from before this
migration held an HMAC of the token and are no longer accepted: the page asks for the token once more.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("recorded_points", sa.BigInteger, nullable=False, server_default="0"))
    op.create_table(
        "browser_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("token_fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_browser_sessions_expires_at", "browser_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_browser_sessions_expires_at", table_name="browser_sessions")
    op.drop_table("browser_sessions")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("recorded_points")
