"""Adaptive search: a study's search settings and decision counter, its runs' trial rows, a run's `stop_as`.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("studies", sa.Column("search", sa.JSON, nullable=True))
    op.add_column("studies", sa.Column("search_version", sa.Integer, nullable=False, server_default="0"))
    op.add_column("runs", sa.Column("stop_as", sa.String(16), nullable=True))
    op.create_table(
        "search_runs",
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                  sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("study_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                  sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("number", sa.Integer, nullable=True),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("intermediate", sa.JSON, nullable=False),
        sa.Column("system_attrs", sa.JSON, nullable=False),
        sa.Column("pruned_epoch", sa.Integer, nullable=True),
    )
    op.create_index("ix_search_runs_study_id", "search_runs", ["study_id"])


def downgrade() -> None:
    op.drop_index("ix_search_runs_study_id", table_name="search_runs")
    op.drop_table("search_runs")
    # A plain DROP COLUMN (SQLite 3.35+): a batch copy of `runs` would re-create 0014's generated columns, which
    # Alembic's SQLite batch mode cannot write.
    op.drop_column("runs", "stop_as")
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("search_version")
        batch.drop_column("search")
