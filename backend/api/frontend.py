"""Serves the dashboard (frontend/ as static files, plotly.js as built at install time or from the Python package)
and the API docs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from backend.errors import NotFound

FRONTEND_DIR = Path(__file__).resolve().parents[2] / "frontend"


PLOTLY_BUNDLE = FRONTEND_DIR / "vendor" / "build" / "plotly.min.js"  # `make plotly-bundle` (frontend/vendor)


def plotly_js_path() -> Path:
    """plotly.js with only the traces the pages draw (1.6 MB), where it was built at install time; else the
    Python plotly package's full bundle (4.8 MB, about twice the parsing). Either way served from disk: offline."""
    return PLOTLY_BUNDLE if PLOTLY_BUNDLE.is_file() else full_plotly_js_path()


def full_plotly_js_path() -> Path:
    """The Python plotly package's plotly.js: every trace type."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        raise RuntimeError("the Python package plotly is not installed")
    return Path(spec.origin).parent / "package_data" / "plotly.min.js"


router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    page = FRONTEND_DIR / "index.html"
    if not page.is_file():
        raise NotFound("frontend/index.html is missing")
    return FileResponse(page, headers={"Cache-Control": "no-cache"})


@router.get("/static/vendor/plotly.min.js")
def plotly_js() -> FileResponse:
    return FileResponse(plotly_js_path(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})


@router.get("/docs")
def api_docs() -> HTMLResponse:
    """Swagger UI from the swagger-ui-bundle package: the API docs work offline too."""
    return get_swagger_ui_html(openapi_url="/openapi.json", title="ContrastLab API",
                               swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                               swagger_css_url="/docs-assets/swagger-ui.css",
                               swagger_favicon_url="/docs-assets/favicon-32x32.png")


def mount(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")
    if FRONTEND_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=FRONTEND_DIR), name="static")
