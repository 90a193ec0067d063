"""The FastAPI app: settings, database, broker, routers, static pages."""

from __future__ import annotations

from fastapi import FastAPI

from backend import frontend
from backend.api.main import api_router
from backend.config import Settings, get_settings
from backend.db import make_engine, make_sessionmaker
from backend.streams import Notifier
from worker.celery_app import make_celery


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = FastAPI(title="ContrastLab", version="0.1.0",
                  description="Launch, watch and compare contrastive-learning runs.",
                  docs_url=None, redoc_url=None)
    engine = make_engine(settings.resolved_database_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.notifier = Notifier()
    app.state.celery = make_celery(settings.resolved_broker_url, settings.data_dir, settings.queue)
    app.include_router(api_router)
    frontend.mount(app)
    return app
