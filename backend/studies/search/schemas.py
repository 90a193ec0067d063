"""What a search accepts: its settings and the range axes it may sample (lists are the grid's axes)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
