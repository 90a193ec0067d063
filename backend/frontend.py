"""Serves the dashboard: frontend/ as static files, and plotly.js from the Python package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

FRONTEND_DIR = Path(__file__).resolve().parent.parent / "frontend"


def plotly_js_path() -> Path:
    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        raise RuntimeError("the Python package plotly is not installed")
    return Path(spec.origin).parent / "package_data" / "plotly.min.js"


router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    page = FRONTEND_DIR / "index.html"
    if not page.is_file():
        raise HTTPException(status_code=404, detail="frontend/index.html is missing")
    return FileResponse(page, headers={"Cache-Control": "no-cache"})


@router.get("/static/vendor/plotly.min.js")
def plotly_js() -> FileResponse:
    return FileResponse(plotly_js_path(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})


def mount(app: FastAPI) -> None:
    app.include_router(router)
    if FRONTEND_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=FRONTEND_DIR), name="static")
