"""What an attempt's training came to (one process, or torchrun's ranks): the run's final status, why, its summary."""

from __future__ import annotations

import math
from typing import NamedTuple

from contrastlab.core.catalog import Status
from contrastlab.core.protocol import FinalStatus, Finish

MAX_ERROR_CHARS = 4000  # the API's limit on a run's error text


class Outcome(NamedTuple):
    """Built by its class methods; unpacks as (status, error, summary)."""

    status: FinalStatus
    error: str | None
    summary: dict[str, float]

    @classmethod
    def succeeded(cls, summary: dict[str, float]) -> Outcome:
        return cls(Status.SUCCEEDED, None, summary)

    @classmethod
    def failed(cls, error: str) -> Outcome:
        return cls(Status.FAILED, error, {})

    @classmethod
    def canceled(cls) -> Outcome:
        return cls(Status.CANCELED, None, {})

    def finish(self, worker: str, attempt: int) -> Finish:
        """The message that ends the run: the error cut to the API's limit, the summary's finite numbers only."""
        return Finish(worker=worker, attempt=attempt, status=self.status,
                      error=None if self.error is None else self.error[:MAX_ERROR_CHARS],
                      summary={name: float(value) for name, value in self.summary.items() if _is_number(value)})


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
