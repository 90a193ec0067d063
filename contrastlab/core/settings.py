"""Settings: one pydantic-settings class, read from the environment by the API, the workers and the CLI."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_NAMES = {"localhost", "ip6-localhost"}
# The broker that needs no server: messages are files under DATA_DIR/broker.
EMBEDDED_BROKER = "filesystem://localhost/"
# Runs last hours; a message should not be redelivered while one trains. The
# database lease, not the broker, decides who owns a run: a redelivered
# message for a run with a live lease does nothing (VISIBILITY_TIMEOUT).
VISIBILITY_TIMEOUT_S = 24 * 3600
# A dataset whose decoded uint8 images exceed this streams from disk (data_loading auto): STL-10 with its
# unlabeled split (2.7 GB at 96 px) and ImageNet-sized folders do, CIFAR and Imagenette at 160 px do not.
STREAM_ABOVE_MB = 2048
# A DataLoader worker that sends no batch for this long is stuck (a hung disk or share, a deadlock): the run fails.
DATA_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class LoaderConfig:
    """What the engine's data loading takes from a worker's settings (STREAM_ABOVE_MB, DATA_WORKERS,
    DATA_TIMEOUT_S): handed to the engine, which reads no settings itself."""

    stream_above_mb: int = STREAM_ABOVE_MB
    workers: int | None = None  # DataLoader processes; None: one per core but one, at most 8
    timeout_s: float = DATA_TIMEOUT_S  # the longest wait for one batch from the DataLoader processes


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
    lease_seconds: int = Field(60, ge=2, le=86_400, description="A run's lease; renewed by the worker's heartbeat.")
    start_worker: bool = Field(True, description="`make run` starts one Celery worker (and the preview "
                               "consumer that draws augmentation previews while it trains) beside the API.")
    system_sample_seconds: float = Field(5.0, ge=0, le=3600, description="How often a worker samples a run's "
                                         "CPU, memory and GPU use (the system.* metrics); 0: never.")
    worker_stop_seconds: float = Field(30.0, gt=0, le=3600, description="A stopping worker's warm shutdown "
                                       "(stop at the next step, upload, hand the run back) may take this long; "
                                       "then its processes are killed.")
    log_format: str = Field("text", pattern="^(text|json)$", description="Log lines as text, or as JSON "
                            "objects (time, level, logger, message, run_id) for a log collector.")
    # Faults: the reconciler in the API process.
    max_attempts: int = Field(3, ge=1, le=100, description="Lost leases (dead workers) before a run fails.")
    reconcile_seconds: float = Field(5.0, gt=0, le=3600, description="How often the reconciler looks for "
                                     "expired leases and runs whose broker message vanished.")
    requeue_after_seconds: float = Field(60.0, gt=0, le=86_400, description="A run queued this long with no "
                                         "message for it in the broker is sent again.")
    worker_heartbeat_seconds: float = Field(10.0, gt=0, le=3600, description="How often each worker says it is "
                                            "alive (GET /api/workers, the Workers page).")
    worker_lost_seconds: float = Field(60.0, gt=0, le=86_400, description="A worker not heard from for this long "
                                       "is shown as lost (its runs' leases decide on their own).")
    max_workers: int = Field(1000, ge=1, le=1_000_000, description="Worker rows kept (a host's preview "
                             "consumer is one too); past it, a new worker's beat replaces the longest-silent lost "
                             "one, or is refused (429) when none is lost.")
    visibility_timeout: int = Field(VISIBILITY_TIMEOUT_S, ge=1, description="Redis redelivers a task message "
                                    "not acknowledged within this many seconds (the lease still decides).")
    # Access and input limits.
    api_token: str = Field("", repr=False, description="Bearer token, or a comma-separated list; empty: no auth.")
    allow_no_token: bool = Field(False, description="Serve on a non-loopback HOST without API_TOKEN.")
    worker_token: str = Field("", repr=False, description="Workers' bearer token, or a comma-separated list: "
                              "only it may claim runs and report on them, and users' API_TOKENs may not; "
                              "empty: workers use API_TOKEN.")
    forwarded_allow_ips: str = Field("", description="Comma-separated proxy addresses whose X-Forwarded-For "
                                     "and X-Forwarded-Proto are trusted; empty: none (the peer's own address "
                                     "counts).")
    auth_failures_per_minute: int = Field(30, ge=0, le=1_000_000, description="Wrong tokens one client address "
                                          "may present per minute; past that it gets 429 until a minute has "
                                          "passed since its oldest. 0: no limit.")
    cors_origins: str = Field("", description="Comma-separated origins allowed by CORS; empty: CORS off.")
    allowed_data_roots: str = Field("", description="Folders (comma-separated) image_folder datasets may "
                                    "come from; empty: none.")
    max_body_bytes: int = Field(1024**2, ge=1024, description="Largest request body (413 above).")
    max_batch_bytes: int = Field(16 * 1024**2, ge=1024, description="Largest metric batch from a worker.")
    max_artifact_bytes: int = Field(8 * 1024**3, ge=1024, description="Largest artifact upload.")
    # Quotas: what one client or one run may grow (disk, rows), each refused with the setting's name.
    max_epochs: int = Field(1000, ge=1, le=100_000, description="Largest `epochs` a spec may ask for (422 above).")
    max_batch_size: int = Field(8192, ge=1, le=1_000_000, description="Largest `batch_size` (422 above).")
    max_image_size: int = Field(512, ge=8, le=4096, description="Largest `image_size` in pixels (422 above).")
    max_run_artifacts: int = Field(64, ge=1, le=100_000, description="Artifacts one run may store (409 above).")
    max_run_artifact_bytes: int = Field(32 * 1024**3, ge=1024, description="Bytes of artifacts one run may "
                                        "store in all (413 above).")
    max_run_points: int = Field(5_000_000, ge=1000, description="Metric points and messages one run may record "
                                "(413 above).")
    max_run_bytes: int = Field(1024**3, ge=1024, description="Bytes of metric names and messages one run may "
                               "record, each row counted with 24 bytes for its numbers (413 above).")
    submissions_per_minute: int = Field(60, ge=0, le=1_000_000, description="Runs one client address may "
                                        "submit per minute, each run of a seed group or study counted (429 above; "
                                        "a larger study only after a quiet minute); 0: no limit.")
    min_free_disk_bytes: int = Field(1024**3, ge=0, description="Below this much free space under DATA_DIR, new "
                                     "runs and uploads are refused with 503.")
    # Browser sessions and the names the API answers to.
    session_hours: float = Field(24.0, gt=0, le=24 * 365, description="A page's sign-in lasts this long; "
                                 "logging out ends it at once.")
    allowed_hosts: str = Field("", description="Host names the API answers to (comma-separated, '*' for any); "
                               "empty: the loopback names and HOST (any name when HOST is 0.0.0.0 or ::). "
                               "Refusing other names stops DNS-rebinding pages.")
    study_max_runs: int = Field(500, ge=1, le=100_000, description="Most runs one study may launch (cells x seeds); "
                                "a larger study is refused with its count.")
    study_max_axis_values: int = Field(1000, ge=1, le=1_000_000, description="Most values one study axis may "
                                       "list (422 above).")
    trash_days: float = Field(30.0, ge=0, le=36_500, description="Runs and studies in the trash this many days are "
                              "removed for good, files included; 0: only when the trash is emptied by hand.")
    # Data on the workers.
    stream_above_mb: int = Field(STREAM_ABOVE_MB, ge=0, description="A run whose dataset, decoded, is larger than "
                                 "this many MiB reads it from disk batch by batch (spec data_loading auto); "
                                 "0: every dataset that can stream does.")
    data_workers: int | None = Field(None, ge=0, le=64, description="DataLoader processes that decode a streamed "
                                     "dataset; empty: one per core but one, at most 8; 0: the training process "
                                     "decodes (without the DATA_TIMEOUT_S bound).")
    data_timeout_s: float = Field(DATA_TIMEOUT_S, gt=0, le=86_400, description="A streamed run whose DataLoader "
                                  "processes send no batch for this many seconds (a stuck read, a hung network "
                                  "share) fails with the loader's error instead of waiting forever.")

    @model_validator(mode="after")
    def _token_off_loopback(self) -> Settings:
        if not self.tokens and not self.allow_no_token and not is_loopback(self.host):
            raise ValueError(f"HOST={self.host} is reachable from other machines but API_TOKEN is empty: "
                             "set API_TOKEN (clients then send `Authorization: Bearer <token>`), listen on "
                             "127.0.0.1, or set ALLOW_NO_TOKEN=1 to serve without authentication")
        return self

    @model_validator(mode="after")
    def _worker_token_apart(self) -> Settings:
        if set(self.tokens) & set(self.worker_tokens):
            raise ValueError("a token is in both API_TOKEN and WORKER_TOKEN: give workers a token of their own, "
                             "or users could act as workers")
        return self

    @property
    def tokens(self) -> tuple[str, ...]:
        return tuple(t.strip() for t in self.api_token.split(",") if t.strip())

    @property
    def worker_tokens(self) -> tuple[str, ...]:
        return tuple(t.strip() for t in self.worker_token.split(",") if t.strip())

    @property
    def hosts(self) -> frozenset[str] | None:
        """The Host names accepted (lower case, no port); None: any."""
        named = {h.strip().lower().strip("[]") for h in self.allowed_hosts.split(",") if h.strip()}
        if "*" in named or (not named and self.host in ("0.0.0.0", "::")):
            return None
        return frozenset(named or {*LOOPBACK_NAMES, "127.0.0.1", "::1", self.host.lower().strip("[]")})

    @property
    def data_roots(self) -> tuple[Path, ...]:
        return tuple(Path(p.strip()) for p in self.allowed_data_roots.split(",") if p.strip())

    @property
    def loader(self) -> LoaderConfig:
        """The engine's data-loading bounds from these settings."""
        return LoaderConfig(self.stream_above_mb, self.data_workers, self.data_timeout_s)

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

    @property
    def study_cache_dir(self) -> Path:
        """A finished study's computed bodies (statistics, curves), one folder per study (backend.studies.kept)."""
        return self.data_dir / "cache" / "studies"


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _normalise_postgres(url: str) -> str:
    """Accept the usual postgres:// spellings and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
