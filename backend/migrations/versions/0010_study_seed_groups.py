"""A study cell's seeds are a seed group: its runs share group_id, the cell's first run's id, as the runs of
one form with several seeds do. Studies created before this get theirs here; a cell of one seed has none.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text(
        "UPDATE runs SET group_id = (SELECT min(cell.id) FROM runs AS cell"
        " WHERE cell.study_id = runs.study_id AND cell.study_cell = runs.study_cell)"
        " WHERE study_id IS NOT NULL AND group_id IS NULL AND (SELECT count(*) FROM runs AS cell"
        " WHERE cell.study_id = runs.study_id AND cell.study_cell = runs.study_cell) > 1"))


def downgrade() -> None:
    op.execute(sa.text("UPDATE runs SET group_id = NULL WHERE study_id IS NOT NULL"))
