"""A run's metric points as CSV, for spreadsheets and pandas."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from backend.api.deps import RunDep
from backend.runs import lifecycle
from backend.runs.schemas import iso
from contrastlab.core.csv_cells import text_cell

router = APIRouter(prefix="/runs/{run_id}", tags=["metrics"])
PAGE = 5000
HEADER = ("name", "step", "epoch", "value", "time")


@router.get("/metrics.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}})
def metrics_csv(run: RunDep, request: Request) -> StreamingResponse:
    """Every metric point in recorded order: name, step, epoch, value, time (UTC, ISO 8601). A name that a
    spreadsheet would run as a formula (=, +, -, @) gets a leading single quote; numbers stay numbers."""
    factory = request.app.state.sessionmaker
    run_id = run.id

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(HEADER)
        cursor = 0
        while True:
            with factory() as session:
                events = lifecycle.events_after(session, run_id, cursor, PAGE, kinds=("metric",))
            for e in events:
                writer.writerow((text_cell(e.name or ""), e.step, e.epoch, repr(e.value) if e.value is not None else "",
                                 iso(e.time)))
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if len(events) < PAGE:
                return
            cursor = events[-1].id

    filename = f"run-{run_id}-metrics.csv"
    return StreamingResponse(rows(), media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})
