"""Health and the RunSpec schema."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from backend.api.deps import SessionDep, SettingsDep
from worker.spec import run_spec_schema

router = APIRouter(tags=["meta"])


@router.get("/health")
def health(session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    session.execute(text("SELECT 1"))
    return {
        "status": "ok",
        "database": session.get_bind().dialect.name,
        "broker": settings.resolved_broker_url.split("://", 1)[0],
        "queue": settings.queue,
    }


@router.get("/schema/run-spec")
def run_spec() -> dict[str, Any]:
    """The RunSpec JSON Schema: every option with its default, bounds, help text and form group."""
    return run_spec_schema()
