"""The runs list at 100,000 runs: generated, indexed columns for its sort keys and filters.

Final metrics (summary_<metric>), the duration and the spec fields people sort by (spec_<field>) become generated
columns, each with an index on (column, id): SQLite computes them on read (VIRTUAL, the only kind ALTER TABLE can
add), PostgreSQL stores them. Their SQL comes from backend.sortkeys as it was when this revision was written.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

SUMMARY = ("knn_acc", "linear_acc", "linear_acc_head", "random_linear_acc", "random_knn_acc", "silhouette",
           "final_loss", "train_seconds", "drawdown", "volatility")
SPEC_NUMBERS = ("lr", "batch_size", "epochs", "temperature", "weight_decay", "seed")
SPEC_TEXTS = ("optimizer",)
COLUMNS = (("duration", False), *((f"summary_{k}", False) for k in SUMMARY),
           *((f"spec_{k}", False) for k in SPEC_NUMBERS), *((f"spec_{k}", True) for k in SPEC_TEXTS))


def _sql(column: str, dialect: str) -> str:
    if column == "duration":
        if dialect == "sqlite":
            return "(julianday(finished_at) - julianday(started_at)) * 86400.0"
        return "CAST(EXTRACT(EPOCH FROM (finished_at - started_at)) AS DOUBLE PRECISION)"
    source, _, key = column.partition("_")
    if dialect == "sqlite":
        return f"json_extract({source}, '$.{key}')"
    if source == "spec" and key in SPEC_TEXTS:
        return f"({source} ->> '{key}')"
    return f"CAST(({source} ->> '{key}') AS DOUBLE PRECISION)"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, is_text in COLUMNS:
        kind = sa.String(40) if is_text else sa.Float()
        computed = sa.Computed(sa.text(_sql(name, dialect)), persisted=dialect != "sqlite")
        op.add_column("runs", sa.Column(name, kind, computed, nullable=True))
        op.create_index(f"ix_runs_{name}", "runs", [name, "id"])


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        op.drop_index(f"ix_runs_{name}", table_name="runs")
        op.drop_column("runs", name)
