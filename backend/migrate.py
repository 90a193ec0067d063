"""Pre-start: wait for the database, then apply the Alembic migrations."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from contrastlab.core.settings import Settings

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def wait_for_database(url: str, attempts: int = 30, delay: float = 1.0) -> None:
    engine = create_engine(url)
    try:
        for attempt in range(1, attempts + 1):
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                return
            except Exception as exc:  # any connection error means "not yet"
                if attempt == attempts:
                    raise RuntimeError(f"database not reachable at {engine.url!r}: {exc}") from exc
                log.warning("database not ready (%s), retrying in %.0fs", exc, delay)
                time.sleep(delay)
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def prestart(settings: Settings) -> None:
    """What the API needs before it serves: its data folder, a database that answers, the latest schema."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    wait_for_database(settings.resolved_database_url)
    upgrade(settings.resolved_database_url)
