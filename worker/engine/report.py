"""How the engine talks to whoever drives it: a Celery task, a test, a benchmark."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Protocol


class Reporter(Protocol):
    def metric(self, name: str, value: float, step: int, epoch: float) -> None:
        """One point of a curve; step is the global optimiser step (from 1), epoch may be fractional."""

    def message(self, text: str) -> None:
        """A phase change, in words a person reads on the run page."""

    def phase(self, name: str, done: int = 0, total: int | None = None, views_per_unit: int = 0) -> None:
        """Where the run is: a phase of contrastlab.core.catalog.PHASES, done of total of its units (steps,
        images, probe epochs; total None: no measure). views_per_unit: the augmented views one unit stands for
        (a training step: its batch times the method's views), so that the speed reads in views per second."""

    def should_stop(self) -> bool:
        """True once a cancel was requested; the engine then raises TrainingCanceled."""

    def checkpoint(self, path: Path, epoch: int, step: int) -> None:
        """A resumable checkpoint of this epoch is complete at path (written atomically, loads with
        torch.load(weights_only=True)); pass it back as train(resume_from=path) to continue after it."""


class NullReporter:
    """Drops everything and never stops."""

    def metric(self, name: str, value: float, step: int, epoch: float) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def phase(self, name: str, done: int = 0, total: int | None = None, views_per_unit: int = 0) -> None:
        pass

    def should_stop(self) -> bool:
        return False

    def checkpoint(self, path: Path, epoch: int, step: int) -> None:
        pass


class PhasePoint(NamedTuple):
    name: str
    done: int
    total: int | None
    views_per_unit: int = 0


class MetricPoint(NamedTuple):
    name: str
    value: float
    step: int
    epoch: float


@dataclass
class ListReporter:
    """Records into lists; set `stop_requested` to cancel."""

    metrics: list[MetricPoint] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    phases: list[PhasePoint] = field(default_factory=list)
    checkpoints: list[tuple[int, int]] = field(default_factory=list)  # (epoch, step)
    stop_requested: bool = False

    def metric(self, name: str, value: float, step: int, epoch: float) -> None:
        self.metrics.append(MetricPoint(name, value, step, epoch))

    def message(self, text: str) -> None:
        self.messages.append(text)

    def phase(self, name: str, done: int = 0, total: int | None = None, views_per_unit: int = 0) -> None:
        self.phases.append(PhasePoint(name, done, total, views_per_unit))

    def should_stop(self) -> bool:
        return self.stop_requested

    def checkpoint(self, path: Path, epoch: int, step: int) -> None:
        self.checkpoints.append((epoch, step))

    @property
    def learned(self) -> list[MetricPoint]:
        """The metrics without the system.* ones, which measure the machine rather than the model and differ
        from one run of the same spec and seed to the next."""
        return [point for point in self.metrics if not point.name.startswith("system.")]

    def values(self, name: str) -> list[float]:
        """Every value recorded for one metric, in order."""
        return [point.value for point in self.metrics if point.name == name]
