"""Stored specs carry the contract's version (contrastlab.core.spec.SPEC_VERSION); runs stored before it get 1.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every run stored so far was validated by version 1 of the RunSpec.
    op.add_column("runs", sa.Column("spec_version", sa.Integer, nullable=False, server_default="1"))


def downgrade() -> None:
    op.drop_column("runs", "spec_version")
