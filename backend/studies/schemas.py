"""What the studies endpoints accept and return (POST/GET /api/studies, /api/studies/{id}, its stats), and a
search's settings and range axes (backend.studies.search)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from backend.runs.schemas import RunPublic, Seeds, iso

# An axis value is a JSON scalar: each cell's spec is validated by RunSpec, which says what a field accepts.
AxisValue = str | bool | int | float | None


MAX_TRIALS = 500  # besides STUDY_MAX_RUNS, which bounds trials and confirmation runs together
MAX_PARALLEL = 32


class AxisRange(BaseModel):
    """A numeric axis a search samples from: [low, high], on a log scale when `log`."""

    model_config = ConfigDict(extra="forbid")

    low: float = Field(description="The smallest value sampled.")
    high: float = Field(description="The largest value sampled.")
    log: bool = Field(False, description="Sample on a log scale (low must be > 0).")

    @model_validator(mode="after")
    def _ordered(self) -> AxisRange:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("low and high must be finite numbers")
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, not {self.low}")
        return self


class SearchConfig(BaseModel):
    """A study that searches instead of running the whole grid: Optuna samples `trials` configurations over the
    axes, prunes the losing ones on the k-NN monitor, then reruns the best and the baseline on fresh seeds."""

    model_config = ConfigDict(extra="forbid")

    sampler: Literal["tpe", "random", "grid"] = Field("tpe", description="Optuna's sampler: TPE, random, or the "
                                                      "grid of the listed values in a random order.")
    pruner: Literal["asha", "none"] = Field("asha", description="asha: Optuna's successive halving on the k-NN "
                                            "monitor (knn_acc at each knn_every epoch); none: every trial runs out.")
    trials: int = Field(ge=1, le=MAX_TRIALS, description="Trials to sample; with the confirmation runs, at most "
                        "STUDY_MAX_RUNS.")
    metric: str = Field("knn_acc", max_length=64, description="The final metric a trial is ranked by (a catalogue "
                        "metric with a direction).")
    direction: Literal["max", "min"] = Field("max", description="Whether a larger metric is better.")
    parallel: int = Field(4, ge=1, le=MAX_PARALLEL, description="Trials queued or running at once; fewer make the "
                          "sampler better informed, more finish sooner with more workers.")
    confirm_seeds: int = Field(3, ge=1, le=20, description="Fresh seeds on which the best configuration and the "
                               "baseline are rerun; the verdict comes from these runs only.")
    reduction_factor: int = Field(3, ge=2, le=10, description="ASHA keeps the best 1/reduction_factor of the "
                                  "trials at each rung (epochs 1, rf, rf², ... of the monitor).")


class StudyCreate(BaseModel):
    """A base spec, axes (a RunSpec field and its values) and seeds: one run per cell and seed."""

    name: str = Field(min_length=1, max_length=120, description="The study's name; each run is named after it.")
    base: dict[str, Any] = Field(default_factory=dict, description="RunSpec fields shared by every run.")
    axes: dict[str, list[AxisValue] | AxisRange] = Field(
        min_length=1, max_length=10,
        description="RunSpec field -> the values it takes, e.g. {\"method\": [\"simclr\", \"supcon\"]}. The grid is "
                    "the product of the axes; a field that does not apply to a cell's method, dataset or optimizer "
                    "is not varied there. A search also takes ranges: {\"lr\": {\"low\": 1e-4, \"high\": 1e-2, "
                    "\"log\": true}}.")
    seeds: Seeds = Field(min_length=1, max_length=100,
                         description="One run per cell and seed; distinct integers ≥ 0, e.g. [0, 1, 2]. A search's "
                                     "trials run on the first; its confirmation on fresh seeds after the largest.")
    search: SearchConfig | None = Field(None, description="Search instead of running the grid: Optuna samples and "
                                        "prunes `trials` runs, then confirms the best against the baseline.")

    @field_validator("name")
    @classmethod
    def _no_nul(cls, name: str) -> str:
        """PostgreSQL cannot store a NUL in text (each run is named after the study, too)."""
        if "\x00" in name:
            raise ValueError("must not contain a NUL character (\\u0000); remove it")
        return name


class StudyCreated(BaseModel):
    id: int
    name: str
    runs: list[RunPublic] = Field(description="The created runs, cell by cell, seed by seed.")
    cells: int = Field(description="Distinct combinations of the axes' values.")


class StudyExtend(BaseModel):
    """More seeds for chosen cells of a study: new runs in the same study, on seeds no run of the cell has used."""

    seeds: int = Field(ge=1, le=100, description="New runs per chosen cell (seeds after the cell's largest).")
    cells: list[str] | None = Field(None, min_length=1, max_length=1000,
                                    description="Cell keys, as in the study's cells; default: every cell.")


class StudyCell(BaseModel):
    key: str = Field(description="The cell's axis values in axis order: \"method=supcon,temperature=0.1\".")
    values: dict[str, Any]
    runs: list[int]


class StudySummary(BaseModel):
    id: int
    name: str
    created_at: datetime
    base: dict[str, Any]
    axes: dict[str, Any] = Field(description="Field -> its values, or a search's range {low, high, log}.")
    seeds: list[int]
    search: dict[str, Any] | None = Field(None, description="The search's settings (null for a grid); `stopped` "
                                          "once canceled or when no trial finished.")
    status_counts: dict[str, int] = Field(description="Runs of the study per status (every status listed).")
    tags: list[str] = Field(default_factory=list, description="`key` or `key:value` tags (PATCH sets them).")
    notes: str = Field("", description="Markdown notes (PATCH sets them).")
    trashed_at: datetime | None = Field(None, description="When DELETE moved the study to the trash.")

    @field_serializer("created_at", "trashed_at")
    def _iso(self, value: datetime | None) -> str | None:
        return iso(value)


class StudyPublic(StudySummary):
    run_ids: list[int]
    cells: list[StudyCell]


class StudiesPublic(BaseModel):
    items: list[StudySummary]
    total: int


class CellCurve(BaseModel):
    """One cell's curve of a metric: per bucket of the study's common x grid where some run has a point."""

    key: str = Field(description="The cell's key, as in the study's cells.")
    x: list[float | None] = Field(description="The mean x of the points in the bucket.")
    mean: list[float | None] = Field(description="The mean over the cell's runs of each run's mean in the bucket.")
    std: list[float | None] = Field(description="Their standard deviation (ddof 1); null where one run counts.")
    n: list[int] = Field(description="The runs counted in the bucket.")


class StudyCurvesPublic(BaseModel):
    x_axis: str
    points: int = Field(description="Buckets of the common x grid per metric.")
    finished: bool = Field(description="Every run of the study is finished: these curves no longer change.")
    curves: dict[str, list[CellCurve]] = Field(description="Metric -> one curve per cell, in the study's cell order.")
