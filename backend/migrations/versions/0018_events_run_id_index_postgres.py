"""The event log's (run_id, id) index (0015) on PostgreSQL only. SQLite reads a run's events after a cursor as well
or better by (run_id, kind, id) (every SQLite index carries the rowid): /log's two kinds there took 9 ms a page
when its planner walked (run_id, id) past the run's metric points, 0.1 ms by (run_id, kind, id); and each index
costs every inserted point its update (about a tenth of a batch's INSERT).

Revision ID: 0018
Revises: 0017
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

INDEX = "ix_events_run_id_id"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index(INDEX, table_name="events")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.create_index(INDEX, "events", ["run_id", "id"])
