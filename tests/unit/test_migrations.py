"""Alembic migrations upgrade, downgrade and upgrade again on SQLite and PostgreSQL."""

from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from backend.migrate import downgrade, upgrade
from backend.models import Base
from contrastlab.core.settings import Settings


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
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
                           "search_runs", "workers"}


def test_migrations_match_the_models(tmp_path: Path, database_url: str) -> None:
    """No model change without a migration: autogenerate finds nothing to do."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    url = Settings(data_dir=tmp_path, database_url=database_url).resolved_database_url
    upgrade(url)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
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
