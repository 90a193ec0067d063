"""Shared fixtures: a database of each kind the service supports, empty or already at the newest migration."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    # Several test processes share the machine's cores: one compute thread each (and in the processes they start).
    # With torch's default, one per core, each process's OpenMP threads spin waiting for cores the others hold:
    # the engine's unit tests took 295 s of wall and 281 s of CPU on 3 processes, 87 s and 67 s with this.
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")


def postgres_database(template: str = "") -> Generator[str, None, None]:
    """A fresh PostgreSQL database for one test (a copy of the database named `template`, if given), dropped
    afterwards."""
    import psycopg

    name = f"contrastlab_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({exc}); start it (see .ci/run)")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
        try:
            yield f"{base}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield ""  # the embedded default: a SQLite file under DATA_DIR
    else:
        yield from postgres_database()


_SQLITE_TEMPLATE: list[Path] = []


def migrated_sqlite(data_dir: Path) -> None:
    """Put a SQLite database at the newest migration where Settings(data_dir=data_dir) looks for it (the embedded
    default), so that the API's upgrade at start finds nothing to do: a copy of one file migrated once per session.
    Running every migration takes a second or more, the copy a millisecond. A database already there is kept."""
    if not _SQLITE_TEMPLATE:
        from backend.migrate import upgrade

        folder = Path(tempfile.mkdtemp(prefix="contrastlab-schema-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        upgrade(f"sqlite:///{folder / 'contrastlab.db'}")
        _SQLITE_TEMPLATE.append(folder / "contrastlab.db")
    data_dir.mkdir(parents=True, exist_ok=True)
    if not (data_dir / "contrastlab.db").exists():
        shutil.copyfile(_SQLITE_TEMPLATE[0], data_dir / "contrastlab.db")


class MigratedTemplates:
    """A PostgreSQL database at the newest migration, made once per session and copied by each test with CREATE
    DATABASE ... TEMPLATE (SQLite: migrated_sqlite)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._postgres: Generator[str, None, None] | None = None
        self._postgres_name = ""

    def postgres(self) -> str:
        """The template database's name (nothing may stay connected to it)."""
        if self._postgres is None:
            from backend.migrate import upgrade
            from contrastlab.core.settings import Settings

            self._postgres = postgres_database()
            url = next(self._postgres)
            upgrade(Settings(data_dir=self.folder, database_url=url).resolved_database_url)  # disposes its engine
            self._postgres_name = url.rsplit("/", 1)[1]
        return self._postgres_name

    def close(self) -> None:
        if self._postgres is not None:
            self._postgres.close()  # drops it


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedTemplates]:
    templates = MigratedTemplates(tmp_path_factory.mktemp("migrated"))
    try:
        yield templates
    finally:
        templates.close()


@pytest.fixture(params=["sqlite", "postgres"])
def migrated_database_url(request: pytest.FixtureRequest, tmp_path: Path,
                          migrated_templates: MigratedTemplates) -> Iterator[str]:
    """As database_url, for tests of the API rather than of the migrations: the database is already at the newest
    migration (the API's own upgrade at start finds nothing to do). SQLite: the embedded default (""), whose file
    is copied to where Settings(data_dir=tmp_path / "data") looks for it."""
    if request.param == "sqlite":
        migrated_sqlite(tmp_path / "data")
        yield ""
    else:
        yield from postgres_database(template=migrated_templates.postgres())


# The files that take longest (seconds of one pytest worker, fresh clone, 2026-12-04), run first. `make test` hands
# whole files to its workers in collection order (--dist loadfile --no-loadscope-reorder): xdist's default order,
# most tests first, started these few-test files last, and the suite's end waited on one of them alone.
SLOWEST_FIRST = (
    "tests/integration/test_shutdown.py",  # 165 s
    "tests/integration/test_faults_workers.py",  # 104 s
    "tests/integration/test_methods.py",  # 95 s
    "tests/browser/test_accessibility.py",  # 85 s
    "tests/integration/test_end_to_end.py",  # 80 s
    "tests/browser/test_layout.py",  # 78 s
    "tests/unit/test_house_rules.py",  # 70 s (mypy, cold)
    "tests/integration/test_devices.py",  # 63 s
    "tests/unit/test_engine_distributed.py",  # 63 s
    "tests/browser/test_studies.py",  # 55 s
    "tests/integration/test_preview.py",  # 54 s
    "tests/integration/test_faults_training.py",  # 53 s
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable: a file keeps its order
