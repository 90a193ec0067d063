"""The runs list's tag filter, free text and name sort by index: a run_tags table, a trigram index of the run
names, an index on lower(name), and indexes a count reads alone.

run_tags holds each tag of each run, key and value lower-cased (value "" for a bare key), indexed on (key, value,
run_id) and filled from the runs' tags here. The names: on PostgreSQL a pg_trgm GIN index on lower(name), which
LIKE '%...%' uses (without the extension, which needs a role that may create it, the list still searches, by a
scan); on SQLite an FTS5 table with the trigram tokenizer over runs.name (external content, rowid = runs.id), kept
in step by triggers. Downgrading drops them (the extension stays: other objects may use it) and puts the indexes
of the count (GENERATED) back as they were.

Revision ID: 0017
Revises: 0016
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

FTS = "runs_name_fts"
FTS_TRIGGERS = {  # the FTS5 external-content idiom: an index entry is removed with the values it was made from
    f"{FTS}_insert": f"AFTER INSERT ON runs BEGIN INSERT INTO {FTS}(rowid, name) VALUES (new.id, new.name); END",
    f"{FTS}_delete": f"AFTER DELETE ON runs BEGIN INSERT INTO {FTS}({FTS}, rowid, name) "
                     "VALUES ('delete', old.id, old.name); END",
    f"{FTS}_update": f"AFTER UPDATE OF name ON runs BEGIN INSERT INTO {FTS}({FTS}, rowid, name) "
                     f"VALUES ('delete', old.id, old.name); INSERT INTO {FTS}(rowid, name) VALUES (new.id, new.name); "
                     "END",
}
TRGM_INDEX = "ix_runs_name_trgm"
NAME_INDEX = "ix_runs_name_lower"  # sort=name: lower(name), id
# 0014's indexes of the generated columns, which on PostgreSQL now carry trashed_at (INCLUDE), and an index of the
# runs out of the trash by id there: a count filtered by one of them, by a tag or by nothing reads an index alone.
# (SQLite's indexes hold the rowid, the id, anyway.)
GENERATED = ("duration", "summary_knn_acc", "summary_linear_acc", "summary_linear_acc_head",
             "summary_random_linear_acc", "summary_random_knn_acc", "summary_silhouette", "summary_final_loss",
             "summary_train_seconds", "summary_drawdown", "summary_volatility", "spec_lr", "spec_batch_size",
             "spec_epochs", "spec_temperature", "spec_weight_decay", "spec_seed", "spec_optimizer")
LIVE_INDEX = "ix_runs_trashed_at_id"


def _count_indexes(carry: bool) -> None:
    """PostgreSQL: 0014's indexes with trashed_at and LIVE_INDEX; or (carry False) as they were."""
    if op.get_bind().dialect.name != "postgresql":
        return
    if carry:
        op.create_index(LIVE_INDEX, "runs", ["trashed_at", "id"])
    else:
        op.drop_index(LIVE_INDEX, table_name="runs")
    for name in GENERATED:
        op.drop_index(f"ix_runs_{name}", table_name="runs")
        op.create_index(f"ix_runs_{name}", "runs", [name, "id"], postgresql_include=["trashed_at"] if carry else [])


def _backfill_tags() -> None:
    """run_tags rows from every run's tags, 5,000 runs at a time."""
    bind = op.get_bind()
    runs = sa.table("runs", sa.column("id", sa.BigInteger), sa.column("tags", sa.JSON))
    run_tags = sa.table("run_tags", sa.column("run_id"), sa.column("key"), sa.column("value"))
    last = 0
    while True:
        chunk = bind.execute(sa.select(runs.c.id, runs.c.tags).where(runs.c.id > last, runs.c.tags.is_not(None))
                             .order_by(runs.c.id).limit(5000)).all()
        if not chunk:
            return
        last = chunk[-1].id
        rows = [{"run_id": run_id, "key": key, "value": value} for run_id, tags in chunk
                for key, value in dict.fromkeys(tuple(t.lower().partition(":")[::2]) for t in tags or ())]
        if rows:
            bind.execute(sa.insert(run_tags), rows)


def _trigram_index() -> None:
    """PostgreSQL: pg_trgm and a GIN index on lower(name); without the extension, a warning and no index."""
    bind = op.get_bind()
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        log.warning("pg_trgm could not be created (%s): the runs list searches names by a scan; a role that may "
                    "create it can run CREATE EXTENSION pg_trgm, then CREATE INDEX %s ON runs USING gin "
                    "(lower(name) gin_trgm_ops) WITH (fastupdate = off)", str(exc.orig).strip(), TRGM_INDEX)
        return
    # fastupdate off: a new run's name goes into the index at once, not into a pending list that each search reads
    # through until a vacuum merges it (the planner counts that list, and turns to a scan after a burst of inserts).
    op.execute(f"CREATE INDEX {TRGM_INDEX} ON runs USING gin (lower(name) gin_trgm_ops) WITH (fastupdate = off)")


def upgrade() -> None:
    op.create_table(
        "run_tags",
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                  sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, primary_key=True),
    )
    op.create_index("ix_run_tags_key_value_run_id", "run_tags", ["key", "value", "run_id"])
    _backfill_tags()
    _count_indexes(carry=True)
    op.create_index(NAME_INDEX, "runs", [sa.text("lower(name)"), "id"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"CREATE VIRTUAL TABLE {FTS} USING fts5(name, content='runs', content_rowid='id', "
                   "tokenize='trigram')")
        for name, body in FTS_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
        op.execute(f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')")
    else:
        _trigram_index()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in FTS_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
    else:
        op.execute(f"DROP INDEX IF EXISTS {TRGM_INDEX}")
    op.drop_index(NAME_INDEX, table_name="runs")
    _count_indexes(carry=False)
    op.drop_index("ix_run_tags_key_value_run_id", table_name="run_tags")
    op.drop_table("run_tags")
