"""Alembic environment: the URL comes from the caller (backend.migrate) or the settings."""

from alembic import context
from sqlalchemy import create_engine

from backend.models import Base, modelled
from contrastlab.core.settings import get_settings

config = context.config
url = config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url


def run_migrations() -> None:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            include_name=modelled,  # autogenerate leaves what a migration made outside the models (0017's search)
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
