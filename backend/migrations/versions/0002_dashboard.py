"""Dashboard: seed groups, spec fields copied out of the JSON for indexed sort/filter, a per-metric event index.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SPEC_COLUMNS = ("method", "dataset", "encoder")


def upgrade() -> None:
    op.add_column("runs", sa.Column("group_id", sa.BigInteger, nullable=True))
    for name in SPEC_COLUMNS:
        op.add_column("runs", sa.Column(name, sa.String(40), nullable=False, server_default=""))
    _backfill()
    op.create_index("ix_runs_group_id", "runs", ["group_id"])
    for name in SPEC_COLUMNS:
        op.create_index(f"ix_runs_{name}", "runs", [name])
    op.create_index("ix_events_run_name_id", "events", ["run_id", "name", "id"])


def _backfill() -> None:
    """Existing runs get their method, dataset and encoder from their stored spec."""
    runs = sa.table("runs", sa.column("id", sa.BigInteger), sa.column("spec", sa.JSON),
                    *(sa.column(name, sa.String) for name in SPEC_COLUMNS))
    bind = op.get_bind()
    for run_id, spec in bind.execute(sa.select(runs.c.id, runs.c.spec)).all():
        values = {name: str((spec or {}).get(name) or "")[:40] for name in SPEC_COLUMNS}
        bind.execute(sa.update(runs).where(runs.c.id == run_id).values(**values))


def downgrade() -> None:
    op.drop_index("ix_events_run_name_id", table_name="events")
    for name in (*SPEC_COLUMNS, "group_id"):
        op.drop_index(f"ix_runs_{name}", table_name="runs")
        op.drop_column("runs", name)
