"""Studies: a grid of runs (base spec, axes, seeds); each run points at its study and names its cell.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("base", sa.JSON, nullable=False),
        sa.Column("axes", sa.JSON, nullable=False),
        sa.Column("seeds", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_studies_created_at", "studies", ["created_at"])
    # Batch mode: SQLite cannot add a foreign key to an existing table, so alembic copies the table there.
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("study_id", BigId, nullable=True))
        batch.add_column(sa.Column("study_cell", sa.Text, nullable=True))
        batch.create_foreign_key("fk_runs_study_id", "studies", ["study_id"], ["id"])
        batch.create_index("ix_runs_study_id", ["study_id"])


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_study_id")
        batch.drop_constraint("fk_runs_study_id", type_="foreignkey")
        batch.drop_column("study_cell")
        batch.drop_column("study_id")
    op.drop_index("ix_studies_created_at", table_name="studies")
    op.drop_table("studies")
