"""Tables: runs, their event log (metric points, status changes, messages), artifacts, series overviews, tags."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    delete,
    insert,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, deferred, mapped_column
from sqlalchemy.orm.attributes import PASSIVE_NO_INITIALIZE, get_history

from backend.sortkeys import GeneratedSQL, generated_columns
from contrastlab.core.catalog import Status
from contrastlab.core.spec import SPEC_VERSION

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a bigint.
BigId = BigInteger().with_variant(Integer, "sqlite")



def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


def _from_spec(key: str) -> Any:
    """Column default copied from the inserted spec (immutable), so lists can sort and filter by an index."""

    def default(context: Any) -> str:
        spec = context.get_current_parameters().get("spec") or {}
        return str(spec.get(key) or "")[:40]

    return default


class Study(Base):
    """A grid of runs: a base spec, axes (a spec field and its values) and seeds; its runs point at it."""

    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    base: Mapped[dict[str, Any]] = mapped_column(JSON)
    axes: Mapped[dict[str, list[Any]]] = mapped_column(JSON)  # in the order the user gave (cell keys follow it)
    seeds: Mapped[list[int]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Annotations and the trash (migration 0013), as a run's.
    tags: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    trashed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    # A search instead of a grid (migration 0015): its settings (backend.studies.schemas.SearchConfig),
    # and a counter each decision bumps with a guarded UPDATE, so two API processes never both decide.
    search: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    search_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SearchRun(Base):
    """A run of a search (migration 0015): a trial (its number, sampled params, the k-NN monitor's values so far,
    the pruner's notes) or a confirmation run. Optuna's in-memory study is rebuilt from these rows per decision."""

    __tablename__ = "search_runs"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # trial | confirm
    number: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the trial's number, from 0
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    intermediate: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # epoch (as text) -> k-NN accuracy
    system_attrs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the pruner's rung records
    pruned_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    status: Mapped[str] = mapped_column(String(16), default=Status.QUEUED, index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Faults (migration 0003): attempts whose worker died (lease expired), and why the run was last requeued.
    lost_leases: Mapped[int] = mapped_column(Integer, default=0)
    requeue_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Dashboard listing (migration 0002): seed groups, and spec fields copied out for indexed sort/filter.
    group_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    method: Mapped[str] = mapped_column(String(40), default=_from_spec("method"), index=True)
    dataset: Mapped[str] = mapped_column(String(40), default=_from_spec("dataset"), index=True)
    encoder: Mapped[str] = mapped_column(String(40), default=_from_spec("encoder"), index=True)
    # The contract version the spec was stored under (migration 0005): a worker upgrades or refuses it by name.
    spec_version: Mapped[int] = mapped_column(Integer, default=SPEC_VERSION)
    # Studies (migration 0006): the study that launched the run, and its cell's key ("method=supcon,lr=0.1").
    study_id: Mapped[int | None] = mapped_column(ForeignKey("studies.id"), nullable=True, index=True)
    study_cell: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The sha256 of the current attempt's lease secret (migration 0007); the secret itself is never stored.
    lease_secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Metric points and messages the run's workers have sent (migration 0008), bounded by MAX_RUN_POINTS.
    recorded_points: Mapped[int] = mapped_column(BigInteger, default=0)
    # The bytes of those points and messages (migration 0011, lifecycle.event_bytes), bounded by MAX_RUN_BYTES.
    recorded_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    # Where a running run is (migration 0009): its phase and the phase's progress, as protocol.Phase.
    phase: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # What people write on a run (migration 0013): `key` or `key:value` tags, and Markdown notes.
    tags: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    # When DELETE moved the run to the trash (migration 0013); emptying the trash removes it for good.
    trashed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    # The final status a requested stop ends in (migration 0015): null is `canceled`; a search's pruner sets
    # `pruned`, so the worker stops the run as it stops a cancel and the run ends `pruned`.
    stop_as: Mapped[str | None] = mapped_column(String(16), nullable=True)


# The list's sort keys as generated, indexed columns (migration 0014, backend.sortkeys): loaded only when asked for.
# On PostgreSQL these indexes carry trashed_at (migration 0017), so that a count of the runs out of the trash
# filtered by one of them reads the index alone.
for _name, _is_text in generated_columns():
    setattr(Run, _name, deferred(Column(_name, String(40) if _is_text else Float, Computed(GeneratedSQL(_name)),
                                        nullable=True)))
    Index(f"ix_runs_{_name}", Run.__table__.c[_name], Run.__table__.c.id, postgresql_include=["trashed_at"])


class RunTag(Base):
    """A run's tag as the list's tag filter looks it up (migration 0017): key and value lower-cased, value "" for a
    bare key. Rewritten from Run.tags whenever a flush sets them (run_tags_in_step); removed with the run."""

    __tablename__ = "run_tags"
    __table_args__ = (Index("ix_run_tags_key_value_run_id", "key", "value", "run_id"),)

    run_id: Mapped[int] = mapped_column(BigId, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str] = mapped_column(Text, primary_key=True)


def tag_rows(run_id: int, tags: list[str] | None) -> list[dict[str, Any]]:
    """The run_tags rows of a run's tags ("Opt:SGD" -> key "opt", value "sgd"; "baseline" -> value "")."""
    pairs = dict.fromkeys(tuple(tag.lower().partition(":")[::2]) for tag in tags or ())
    return [{"run_id": run_id, "key": key, "value": value} for key, value in pairs]


def run_tags_in_step(session: Session, _context: Any) -> None:
    """after_flush: rewrite the run_tags rows of every run whose `tags` this flush wrote (a new run with tags, a
    PATCH), so the index never disagrees with the column, whichever code path set them."""
    changed = [row for row in (*session.new, *session.dirty)  # tags not loaded were not set: no query to know
               if isinstance(row, Run) and get_history(row, "tags", PASSIVE_NO_INITIALIZE).has_changes()]
    if not changed:
        return
    connection = session.connection()
    connection.execute(delete(RunTag).where(RunTag.run_id.in_([run.id for run in changed])))
    rows = [row for run in changed for row in tag_rows(run.id, run.tags)]
    if rows:
        connection.execute(insert(RunTag), rows)


def modelled(name: str | None, _type: str = "", _parents: Any = None) -> bool:
    """False for what a migration makes outside the models (0017: SQLite's FTS5 table of run names and the shadow
    tables FTS5 keeps; the indexes on lower(name), which SQLite's reflection cannot read; PostgreSQL's index of the
    ids out of the trash; 0018: PostgreSQL's (run_id, id) index of the events); Alembic's include_name, so
    autogenerate leaves them."""
    return not (name or "").startswith(("runs_name_fts", "ix_runs_name_", "ix_runs_trashed_at_id",
                                         "ix_events_run_id_id"))


class Event(Base):
    """One ordered log per run: its id is the cursor of /metrics and the SSE event id."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("run_id", "key", name="uq_events_run_key"),
        Index("ix_events_run_kind_id", "run_id", "kind", "id"),
        Index("ix_events_run_name_id", "run_id", "name", "id"),  # one metric's series (migration 0002)
        # PostgreSQL also has ix_events_run_id_id (run_id, id), a run's events after a cursor of any kind (0015, 0018).
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # metric | status | log
    # Client-chosen idempotency key ("attempt:seq"): a retried batch inserts nothing twice.
    key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    name: Mapped[str | None] = mapped_column(String(120), nullable=True)
    step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    epoch: Mapped[float | None] = mapped_column(Float, nullable=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("run_id", "name", name="uq_artifacts_run_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SeriesOverview(Base):
    """One metric of a finished run, downsampled once (backend.runs.series): a chart reads it instead of every point.

    `points` holds parallel lists: event id, step, epoch, time (Unix seconds) and value (None where not
    finite). `last_id` is the newest event it covers; a newer point of the metric makes it outdated.
    """

    __tablename__ = "series_overviews"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    last_id: Mapped[int] = mapped_column(BigInteger)
    points: Mapped[dict[str, Any]] = mapped_column(JSON)


class BrowserSession(Base):
    """A page's sign-in (migration 0008): the cookie holds a random secret, the row its sha256, the fingerprint
    of the API token it was opened with (a changed token ends it), when it ends, and whether it was logged out."""

    __tablename__ = "browser_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Worker(Base):
    """A worker process as it last described itself (protocol.WorkerBeat), keyed by its name (migration 0012).

    `status` is online while it beats, lost once the reconciler finds it silent for WORKER_LOST_SECONDS, stopped
    after its last beat; `run_id` is the run whose message it holds (no foreign key: a run may be deleted)."""

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    host: Mapped[str] = mapped_column(String(200), default="")
    devices: Mapped[int] = mapped_column(Integer, default=1)
    slots: Mapped[list[str]] = mapped_column(JSON, default=list)
    gpu: Mapped[bool] = mapped_column(default=False)
    queues: Mapped[list[str]] = mapped_column(JSON, default=list)
    version: Mapped[str] = mapped_column(String(64), default="")
    run_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="online", index=True)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
