"""How the engine talks to whoever drives it: a Celery task, a test, a benchmark."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Protocol


class Reporter(Protocol):
    def metric(self, name: str, value: float, step: int, epoch: float) -> None:
        """One point of a curve; step is the global optimiser step (from 1), epoch may be fractional."""

    def message(self, text: str) -> None:
        """A phase change, in words a person reads on the run page."""

    def should_stop(self) -> bool:
        """True once a cancel was requested; the engine then raises TrainingCanceled."""


class NullReporter:
    """Drops everything and never stops."""

    def metric(self, name: str, value: float, step: int, epoch: float) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def should_stop(self) -> bool:
        return False


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
    stop_requested: bool = False

    def metric(self, name: str, value: float, step: int, epoch: float) -> None:
        self.metrics.append(MetricPoint(name, value, step, epoch))

    def message(self, text: str) -> None:
        self.messages.append(text)

    def should_stop(self) -> bool:
        return self.stop_requested

    def values(self, name: str) -> list[float]:
        """Every value recorded for one metric, in order."""
        return [point.value for point in self.metrics if point.name == name]
