"""An index on the event log's (run_id, id): a run's events after a cursor, whatever their kind, in one range
(the streams' reads and /metrics); PostgreSQL otherwise walks the primary key and filters by run.

Revision ID: 0015
Revises: 0014
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_run_id_id", "events", ["run_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_run_id_id", table_name="events")
