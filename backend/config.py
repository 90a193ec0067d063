"""Settings: one pydantic-settings class, read from the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.celery_app import EMBEDDED_BROKER


class Settings(BaseSettings):
    """Every setting has an embedded default: one machine, zero set-up."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    data_dir: Path = Field(Path("data"), description="Where the SQLite file, artifacts and embedded broker live.")
    database_url: str = Field("", description="SQLAlchemy URL; empty: SQLite file under DATA_DIR.")
    redis_url: str = Field("", description="Redis URL for the broker; empty: the embedded filesystem broker.")
    broker_url: str = Field("", description="Celery broker URL; overrides REDIS_URL.")
    queue: str = Field("contrastlab", description="Celery queue the runs are sent to.")
    host: str = Field("127.0.0.1", description="Address the API listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port the API listens on.")
    api_url: str = Field("", description="URL workers report to; empty: http://HOST:PORT.")
    lease_seconds: int = Field(60, ge=5, le=86_400, description="A run's lease; renewed by the worker's heartbeat.")
    start_worker: bool = Field(True, description="`make run` starts one Celery worker beside the API.")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return _normalise_postgres(self.database_url)
        return f"sqlite:///{(self.data_dir / 'contrastlab.db').resolve()}"

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or self.redis_url or EMBEDDED_BROKER

    @property
    def resolved_api_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return self.api_url or f"http://{host}:{self.port}"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"


def _normalise_postgres(url: str) -> str:
    """Accept the usual postgres:// spellings and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
