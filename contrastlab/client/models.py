"""What the API returns, as typed models; unknown fields are kept, so a newer server never breaks the client."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from contrastlab.core.catalog import FINAL_STATUSES


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Run(_Model):
    id: int
    name: str = ""
    status: str
    spec: dict[str, Any] = {}
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    attempt: int = 0
    progress: float = 0.0
    cancel_requested: bool = False
    error: str | None = None
    summary: dict[str, float] = {}
    group_id: int | None = None  # runs submitted together with several seeds share it
    study_id: int | None = None
    phase: dict[str, Any] | None = None  # where a running run is (pretraining, probe, ...) and how far
    queue_position: int | None = None  # a queued run read alone: 1 when it starts next
    waiting_reason: str | None = None  # a queued run read alone: why it has not started
    warnings: list[str] = []  # a submit's answer: accepted, but e.g. no connected worker offers its devices
    tags: list[str] = []  # `key` or `key:value`
    notes: str = ""  # Markdown
    trashed_at: str | None = None  # when DELETE moved it to the trash

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


class WorkerInfo(_Model):
    """A worker as GET /api/workers shows it: online, lost (silent) or stopped; idle, waiting (for slots) or busy."""

    name: str
    host: str = ""
    role: str = "runs"  # or "previews": the preview consumer beside a host's workers, which takes no run
    status: str
    activity: str = "idle"
    devices: int = 1
    slots: list[str] = []
    gpu: bool = False
    queues: list[str] = []
    version: str = ""
    run_id: int | None = None
    last_seen: str = ""


class MetricPoint(_Model):
    id: int
    name: str
    step: int
    epoch: float
    value: float
    time: str = ""


class LogEntry(_Model):
    id: int
    kind: str
    text: str
    time: str = ""


class Artifact(_Model):
    name: str
    size: int
    sha256: str
    url: str


class StreamEvent(_Model):
    """One Server-Sent Event of a run: `metric` (a MetricPoint), `log`, `status` or `end` (a Run)."""

    id: int | None
    event: str
    data: dict[str, Any]


class StudyCell(_Model):
    """One combination of a study's axes: its key ("method=supcon,temperature=0.1"), values and runs."""

    key: str
    values: dict[str, Any] = {}
    runs: list[int] = []


class Study(_Model):
    """A study: a base spec, axes and seeds, its runs counted by status; GET /api/studies/{id} adds the cells."""

    id: int
    name: str = ""
    base: dict[str, Any] = {}
    axes: dict[str, Any] = {}  # field -> values, or a search's range {low, high, log}
    seeds: list[int] = []
    search: dict[str, Any] | None = None
    status_counts: dict[str, int] = {}
    run_ids: list[int] = []
    cells: list[StudyCell] = []
    created_at: str | None = None
    tags: list[str] = []
    notes: str = ""
    trashed_at: str | None = None


class Trash(_Model):
    """GET /api/trash (what it holds) or DELETE /api/trash (what emptying it removed), with the bytes."""

    runs: int = 0
    studies: int = 0
    file_bytes: int = 0
    record_bytes: int = 0
    trash_days: float = 0.0


class StudyCreated(_Model):
    """POST /api/studies: the study's id and name, the runs it queued, and how many distinct cells they form."""

    id: int
    name: str = ""
    runs: list[Run]
    cells: int


class CellStats(_Model):
    """One combination of the axes over its succeeded runs: mean, std (ddof 1) and Student-t 95 % interval."""

    key: str
    values: dict[str, Any] = {}
    n: int
    mean: float | None = None
    std: float | None = None
    ci95: list[float | None] | None = None
    iqm: float | None = None
    iqm_ci95: list[float | None] | None = None
    recorded: bool = True
    runs: list[int] = []
    status_counts: dict[str, int] = {}


class Comparison(_Model):
    """One cell against the baseline: Welch's test, Holm's correction, P(better), Hedges' g and the verdict."""

    key: str
    baseline: str
    diff: float | None = None
    ci95: list[float | None] | None = None
    p_value: float | None = None
    p_holm: float | None = None
    prob_better: float | None = None
    prob_better_ci95: list[float | None] | None = None
    effect_size: float | None = None
    power: float | None = None
    seeds_for_80: int | None = None
    verdict: str
    reason: str = ""


class PairedComparison(_Model):
    """One cell's metric against the paired metric on the same runs: paired t, bootstrap, Wilcoxon, verdict."""

    key: str
    n: int = 0
    mean_diff: float | None = None
    std_diff: float | None = None
    ci95: list[float | None] | None = None
    bootstrap_ci95: list[float | None] | None = None
    p_value: float | None = None
    p_holm: float | None = None
    wilcoxon_p: float | None = None
    power: float | None = None
    seeds_for_80: int | None = None
    verdict: str
    reason: str = ""
    runs: list[int] = []


class PairedStats(_Model):
    metric: str
    paired: str
    comparisons: list[PairedComparison] = []


class StudyStats(_Model):
    """GET /api/studies/{id}/stats: every cell, each cell against the baseline, and the runs left out."""

    metric: str
    direction: str | None = None
    baseline: str | None = None
    best: str | None = None
    cells: list[CellStats] = []
    comparisons: list[Comparison] = []
    excluded: dict[str, int] = {}
    paired: PairedStats | None = None
    datasets: dict[str, Any] | None = None


class Total(int):
    """How many runs match: an int, and `exact` False when the server's count stopped at its cap (10,000+)."""

    exact: bool

    def __new__(cls, value: int, exact: bool = True) -> Total:
        total = super().__new__(cls, value)
        total.exact = exact
        return total

    def __str__(self) -> str:
        return f"{int(self):,}" + ("" if self.exact else "+")
