"""The trash: what it holds and the bytes it keeps; emptying it (all of it, or some runs) frees them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from backend.api.deps import SessionDep, SettingsDep
from backend.api.routes.runs import IDS_PATTERN
from backend.runs import trash

router = APIRouter(prefix="/trash", tags=["trash"])


class TrashPublic(BaseModel):
    runs: int = Field(description="Runs in the trash (or removed from it).")
    studies: int = Field(description="Studies in the trash (or removed from it).")
    file_bytes: int = Field(description="Bytes of their artifact files on disk.")
    record_bytes: int = Field(description="Bytes of the metric names and messages they recorded in the database.")
    trash_days: float = Field(description="TRASH_DAYS: days after which the trash removes what it holds; 0: never.")


def _public(totals: trash.TrashTotals, days: float) -> TrashPublic:
    return TrashPublic(runs=totals.runs, studies=totals.studies, file_bytes=totals.file_bytes,
                       record_bytes=totals.record_bytes, trash_days=days)


@router.get("", response_model=TrashPublic)
def read_trash(session: SessionDep, settings: SettingsDep) -> TrashPublic:
    """What the trash holds, and the bytes emptying it would free."""
    return _public(trash.contents(session, settings.artifacts_dir), settings.trash_days)


@router.delete("", response_model=TrashPublic)
def empty_trash(session: SessionDep, settings: SettingsDep,
                ids: Annotated[str | None, Query(pattern=IDS_PATTERN, max_length=4000,
                                                 description="Only these trashed runs: 1,2,3.")] = None
                ) -> TrashPublic:
    """Remove for good what the trash holds (or the runs of `ids` in it): rows, metrics and files; returns what was
    removed and the bytes freed."""
    chosen = [int(i) for i in ids.split(",")] if ids else None
    emptied = trash.empty(session, settings.artifacts_dir, settings.study_cache_dir, ids=chosen)
    return _public(emptied, settings.trash_days)
