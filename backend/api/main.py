"""Includes each resource's router under /api."""

from fastapi import APIRouter

from backend.api.routes import (
    artifacts,
    events,
    export,
    meta,
    preview,
    report,
    runs,
    search,
    series,
    studies,
    trash,
    worker,
    workers,
)

api_router = APIRouter(prefix="/api")
api_router.include_router(meta.router)
api_router.include_router(runs.router)
api_router.include_router(studies.router)
api_router.include_router(search.router)
api_router.include_router(report.router)
api_router.include_router(events.router)
api_router.include_router(artifacts.router)
api_router.include_router(worker.router)
api_router.include_router(workers.router)
api_router.include_router(series.router)
api_router.include_router(export.router)
api_router.include_router(trash.router)
api_router.include_router(preview.router)
