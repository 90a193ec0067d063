"""Alembic migrations upgrade, downgrade and upgrade again on SQLite and PostgreSQL."""

import contextlib
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, inspect, text

from backend.migrate import downgrade, upgrade
from backend.models import Base, modelled
from contrastlab.core.settings import Settings
from tests.conftest import POSTGRES_ADMIN_URL, postgres_database


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {name for name in inspect(engine).get_table_names() if modelled(name)} - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(tmp_path: Path, database_url: str) -> None:
    url = Settings(data_dir=tmp_path, database_url=database_url).resolved_database_url
    upgrade(url)
    assert _tables(url) == set(Base.metadata.tables)
    downgrade(url)
    assert _tables(url) == set()
    upgrade(url)
    assert _tables(url) == {"runs", "events", "artifacts", "series_overviews", "studies", "browser_sessions",
                           "search_runs", "workers", "run_tags"}


# 0017's index on lower(name) is outside the models (backend.models.modelled); SQLite's reflection says it skips it.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index ix_runs_name_lower")
def test_migrations_match_the_models(tmp_path: Path, database_url: str) -> None:
    """No model change without a migration: autogenerate finds nothing to do."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    url = Settings(data_dir=tmp_path, database_url=database_url).resolved_database_url
    upgrade(url)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"include_name": modelled})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_runs_stored_before_0005_carry_spec_version_1(tmp_path: Path, database_url: str) -> None:
    """A run written under 0004 reads as validated by version 1 of the RunSpec; downgrading drops the column."""
    url = Settings(data_dir=tmp_path, database_url=database_url).resolved_database_url
    upgrade(url, "0004")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO runs (id, name, status, spec, summary, progress, attempt, cancel_requested, created_at,"
                " method, dataset, encoder) VALUES (7, 'old', 'succeeded', '{\"method\": \"simclr\"}', '{}', 1.0,"
                " 1, false, '2025-01-01 00:00:00+00:00', 'simclr', 'digits', 'small_cnn')"))
        upgrade(url, "0005")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT spec_version FROM runs WHERE id = 7")).scalar_one() == 1
        downgrade(url, "0004")
        assert "spec_version" not in {c["name"] for c in inspect(engine).get_columns("runs")}
    finally:
        engine.dispose()


def test_runs_running_before_0007_have_no_lease_secret(tmp_path: Path, database_url: str) -> None:
    """0007 adds the lease secret's hash, empty for runs claimed before it (their old workers' calls are refused
    and the reconciler requeues them); downgrading drops the column."""
    url = Settings(data_dir=tmp_path, database_url=database_url).resolved_database_url
    upgrade(url, "0006")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO runs (id, name, status, spec, summary, progress, attempt, cancel_requested, created_at,"
                " method, dataset, encoder, spec_version) VALUES (8, 'old', 'running', '{}', '{}', 0.5, 1, false,"
                " '2025-01-01 00:00:00+00:00', 'simclr', 'digits', 'small_cnn', 1)"))
        upgrade(url, "0007")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT lease_secret_hash FROM runs WHERE id = 8")).scalar_one() is None
        downgrade(url, "0006")
        assert "lease_secret_hash" not in {c["name"] for c in inspect(engine).get_columns("runs")}
    finally:
        engine.dispose()


def test_study_cells_of_several_seeds_become_seed_groups_in_0010(tmp_path: Path, database_url: str) -> None:
    """0010 gives a study cell's runs the cell's first run id as group_id; a one-seed cell and a run's own seed
    group are left as they were."""
    url = Settings(data_dir=tmp_path, database_url=database_url).resolved_database_url
    upgrade(url, "0009")
    engine = create_engine(url)
    rows = [(10, 3, "a", None), (11, 3, "a", None), (12, 3, "b", None), (13, None, None, 13), (14, None, None, 13)]
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO studies (id, name, base, axes, seeds, created_at) VALUES"
                                    " (3, 's', '{}', '{}', '[0, 1]', '2025-01-01 00:00:00+00:00')"))
            for run_id, study, cell, group in rows:
                connection.execute(text(
                    "INSERT INTO runs (id, name, status, spec, summary, progress, attempt, cancel_requested,"
                    " created_at, method, dataset, encoder, spec_version, study_id, study_cell, group_id)"
                    " VALUES (:id, 'r', 'queued', '{}', '{}', 0, 0, false, '2025-01-01 00:00:00+00:00', 'simclr',"
                    " 'digits', 'small_cnn', 1, :study, :cell, :group)"),
                    {"id": run_id, "study": study, "cell": cell, "group": group})
        upgrade(url, "0010")
        groups = "SELECT id, group_id FROM runs ORDER BY id"
        with engine.connect() as connection:
            assert connection.execute(text(groups)).all() == [(10, 10), (11, 10), (12, None), (13, 13), (14, 13)]
        downgrade(url, "0009")
        with engine.connect() as connection:
            assert connection.execute(text(groups)).all() == [(10, None), (11, None), (12, None), (13, 13), (14, 13)]
    finally:
        engine.dispose()


def test_0017_fills_run_tags_indexes_names_and_downgrades(tmp_path: Path, database_url: str) -> None:
    """0017 writes run_tags from the runs' tags (lower-cased, once each), indexes the names (SQLite: an FTS5 table
    its triggers keep in step; PostgreSQL: a pg_trgm index) and widens the indexes a count reads; downgrading
    undoes each and keeps the runs."""
    url = Settings(data_dir=tmp_path, database_url=database_url).resolved_database_url
    upgrade(url, "0016")
    engine = create_engine(url)
    insert_run = text(
        "INSERT INTO runs (id, name, status, spec, summary, progress, attempt, cancel_requested, created_at, method,"
        " dataset, encoder, spec_version, tags) VALUES (:id, :name, 'succeeded', '{}', '{}', 1, 1, false,"
        " '2025-01-01 00:00:00+00:00', 'simclr', 'digits', 'small_cnn', 2, :tags)")
    runs = [(1, "Alpha run", '["Baseline", "opt:SGD", "baseline"]'), (2, "beta", "null"), (3, "gamma", None),
            (4, "ALPHABET", '["opt:adam"]')]
    tag_rows = "SELECT run_id, key, value FROM run_tags ORDER BY run_id, key, value"
    try:
        with engine.begin() as connection:
            for run_id, name, tags in runs:
                connection.execute(insert_run, {"id": run_id, "name": name, "tags": tags})
        upgrade(url, "0017")
        sqlite = engine.dialect.name == "sqlite"
        with engine.begin() as connection:
            assert connection.execute(text(tag_rows)).all() == [(1, "baseline", ""), (1, "opt", "sgd"),
                                                                (4, "opt", "adam")]
            connection.execute(insert_run, {"id": 5, "name": "late alpha", "tags": None})
            connection.execute(text("UPDATE runs SET name = 'delta' WHERE id = 4"))
            if sqlite:
                found = "SELECT rowid FROM runs_name_fts WHERE runs_name_fts MATCH '\"alph\"' ORDER BY rowid"
                assert connection.execute(text(found)).scalars().all() == [1, 5]
            else:
                index = connection.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = "
                                                "'ix_runs_name_trgm'")).scalar_one()
                assert "gin" in index and "gin_trgm_ops" in index, index
                index = connection.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = "
                                                "'ix_runs_spec_lr'")).scalar_one()
                assert index.endswith("(spec_lr, id) INCLUDE (trashed_at)"), index
                index = connection.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = "
                                                "'ix_runs_trashed_at_id'")).scalar_one()
                assert index.endswith("(trashed_at, id)"), index
        downgrade(url, "0016")
        names = {t for t in inspect(engine).get_table_names()}
        assert "run_tags" not in names and not {t for t in names if t.startswith("runs_name_fts")}, names
        assert not {"ix_runs_name_trgm", "ix_runs_trashed_at_id", "ix_runs_name_lower"} & {
            i["name"] for i in inspect(engine).get_indexes("runs")}
        with engine.begin() as connection:
            if not sqlite:
                assert not connection.execute(text("SELECT indexname FROM pg_indexes WHERE indexdef LIKE "
                                                   "'%INCLUDE%'")).all()
            assert connection.execute(text("SELECT count(*) FROM runs")).scalar_one() == 5
            connection.execute(text("UPDATE runs SET name = 'epsilon' WHERE id = 5"))  # no trigger left behind
        upgrade(url)
        with engine.connect() as connection:
            assert len(connection.execute(text(tag_rows)).all()) == 3
    finally:
        engine.dispose()


def test_0018_keeps_the_events_run_id_index_on_postgresql_only(tmp_path: Path, database_url: str) -> None:
    """0018 drops the events' (run_id, id) index on SQLite, where a run's events after a cursor, by kind, read one
    range of (run_id, kind, id) each; PostgreSQL keeps it. Downgrading puts SQLite's back."""
    url = Settings(data_dir=tmp_path, database_url=database_url).resolved_database_url
    upgrade(url)
    engine = create_engine(url)

    def indexes() -> set[str | None]:
        return {i["name"] for i in inspect(engine).get_indexes("events")}

    try:
        sqlite = engine.dialect.name == "sqlite"
        assert ("ix_events_run_id_id" in indexes()) is not sqlite
        assert {"ix_events_run_kind_id", "ix_events_run_name_id"} <= indexes()
        if sqlite:
            with engine.connect() as connection:
                plan = " ".join(row[3] for row in connection.execute(text(
                    "EXPLAIN QUERY PLAN SELECT * FROM events WHERE run_id = 1 AND id > 5 AND kind IN ('status', 'log')"
                    " ORDER BY id LIMIT 1000")))
            assert "USING INDEX ix_events_run_kind_id (run_id=? AND kind=? AND id>?)" in plan, plan
        downgrade(url, "0017")
        assert "ix_events_run_id_id" in indexes()
        upgrade(url)
    finally:
        engine.dispose()


def test_0017_without_pg_trgm_warns_and_searches_by_a_scan(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A role that may not create the extension still migrates: no trigram index, a warning that says how to add it."""
    role = f"contrastlab_plain_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        try:
            with contextlib.closing(postgres_database()) as databases:
                url = next(databases)
                with psycopg.connect(url, autocommit=True) as owner:  # the schema is the role's, the database not
                    owner.execute(f'ALTER SCHEMA public OWNER TO "{role}"')
                plain = Settings(data_dir=tmp_path, database_url=url.replace("://", f"://{role}@", 1))
                upgrade(plain.resolved_database_url)
                assert "pg_trgm could not be created" in caplog.text and "gin_trgm_ops" in caplog.text
                engine = create_engine(plain.resolved_database_url)
                try:
                    assert "run_tags" in inspect(engine).get_table_names()
                    assert "ix_runs_name_trgm" not in {i["name"] for i in inspect(engine).get_indexes("runs")}
                finally:
                    engine.dispose()
        finally:
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')
