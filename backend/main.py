"""The FastAPI app: settings, database, broker, reconciler, middleware, routers, static pages."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from backend import errors
from backend.access.admission import SubmissionRate
from backend.access.limits import BodyLimit
from backend.access.security import AuthFailures, BrowserGuard, SecurityHeaders, TokenGuard
from backend.access.sessions import BrowserSessions
from backend.api import frontend
from backend.api.main import api_router
from backend.api.openapi import document_security
from backend.db import make_engine, make_sessionmaker
from backend.operations import observability
from backend.operations.reconciler import Reconciler
from backend.streams.feeds import StreamHub
from backend.streams.notifier import Notifier
from contrastlab.core.protocol import CLIENT_HEADER
from contrastlab.core.settings import Settings, get_settings
from contrastlab.queue import make_celery


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The reconciler runs beside the API for as long as it serves; the event feeds stop with it."""
    task = asyncio.create_task(app.state.reconciler.run_forever(), name="reconciler")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await app.state.streams.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = FastAPI(title="ContrastLab", version="0.1.0",
                  description="Launch, watch and compare contrastive-learning runs.",
                  docs_url=None, redoc_url=None, lifespan=lifespan)
    engine = make_engine(settings.resolved_database_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.notifier = Notifier()
    app.state.streams = StreamHub(app.state.sessionmaker, app.state.notifier)
    app.state.celery = make_celery(settings.resolved_broker_url, settings.data_dir, settings.queue,
                                   settings.visibility_timeout)
    app.state.reconciler = Reconciler(settings, app.state.sessionmaker, app.state.celery, app.state.notifier)
    errors.install(app)
    app.include_router(api_router)
    frontend.mount(app)
    _add_middleware(app, settings)
    observability.install(app)  # outermost: times every request, serves /metrics
    document_security(app, bool(settings.tokens), bool(settings.worker_tokens))
    return app


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    """Outermost last: headers on every answer, CORS preflights before the token check, then limits."""
    app.add_middleware(BodyLimit, settings=settings)
    app.state.auth_failures = AuthFailures(settings.auth_failures_per_minute)
    app.state.submissions = SubmissionRate(settings.submissions_per_minute)
    app.state.browser_sessions = BrowserSessions(app.state.sessionmaker, settings.tokens, settings.session_hours)
    app.add_middleware(TokenGuard, tokens=settings.tokens, failures=app.state.auth_failures,
                       worker_tokens=settings.worker_tokens, sessions=app.state.browser_sessions.valid)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["*"],
                           allow_headers=["Authorization", "Content-Type", "Last-Event-ID", CLIENT_HEADER])
    app.add_middleware(BrowserGuard, hosts=settings.hosts)
    app.add_middleware(SecurityHeaders)
