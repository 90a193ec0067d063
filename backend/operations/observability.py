"""Operations: Prometheus metrics at /metrics, and structured JSON logs that carry the run id.

/metrics (outside /api, so it never collides with a run's /api/runs/{id}/metrics) serves:
- contrastlab_runs{status}: runs in each status (read from the database at scrape time);
- contrastlab_queue_length: task messages waiting in the broker; contrastlab_broker_up;
- contrastlab_http_request_duration_seconds{method,route,status}: time to the response's first byte, labelled
  by route template (`unmatched` for a path no route matched), so labels stay few whatever clients send;
- contrastlab_metric_points_received_total: metric points received from workers by this API process
  (rate() is the ingestion rate; a retried batch counts again, though it stores nothing twice).
Each app has its own registry, so several apps in one process (tests) never share counters.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.access.security import UNAUTHORIZED, bearer_ok
from backend.errors import Unauthorized
from backend.models import Event, Run
from backend.operations.broker_scan import pending_run_ids
from contrastlab.core.catalog import STATUSES
from contrastlab.core.logs import current_run_id, format_as_json

log = logging.getLogger(__name__)
RUN_PATH = re.compile(r"^/api/runs/(\d+)(?:/|$)")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
EVENTS = Event.__tablename__
UNMATCHED = "unmatched"  # the one route label of every request that no route matched
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


class StateCollector(Collector):
    """Runs by status and the broker's queue length, read when Prometheus scrapes."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        runs = GaugeMetricFamily("contrastlab_runs", "Runs in each status.", labels=["status"])
        with self.app.state.sessionmaker() as session:
            counts = {status: count for status, count in session.execute(
                select(Run.status, func.count()).group_by(Run.status))}
        for status in sorted({*STATUSES, *counts}):
            runs.add_metric([status], counts.get(status, 0))
        yield runs
        settings, celery = self.app.state.settings, self.app.state.celery
        try:
            waiting = len(pending_run_ids(settings.resolved_broker_url, settings.queue,
                                          dict(celery.conf.broker_transport_options)))
            up = 1
        except Exception as exc:  # a scrape reports the broker as down instead of failing
            log.warning("queue length unavailable: %s", exc)
            waiting, up = -1, 0
        yield GaugeMetricFamily("contrastlab_queue_length", "Task messages waiting in the broker (-1: unknown).",
                                value=waiting)
        yield GaugeMetricFamily("contrastlab_broker_up", "1 if the broker answered the last scrape.", value=up)


class RequestMetrics:
    """Pure ASGI middleware: request latency by route template, and the run id for the logs of a request."""

    def __init__(self, app: ASGIApp, latency: Histogram, json_logs: bool) -> None:
        self.app, self.latency, self.json_logs = app, latency, json_logs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._on_startup(receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        match = RUN_PATH.match(scope.get("path", ""))
        token = current_run_id.set(int(match.group(1)) if match else None)
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.latency.labels(method_label(scope), route_template(scope), str(message["status"])).observe(
                    time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            current_run_id.reset(token)

    def _on_startup(self, receive: Receive) -> Receive:
        """Switch the server's loggers to JSON once it has configured them (uvicorn does so before startup)."""

        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup" and self.json_logs:
                use_json_logs()
            return message

        return wrapped


def route_template(scope: Scope) -> str:
    """The label of a request's route: `/api/runs/{run_id}/events` for /api/runs/007/events, `/static/{path}` for
    any file under a mount, `unmatched` when no route matched: never the raw path, so hostile 404s add no labels."""
    endpoint, path = scope.get("endpoint"), str(scope.get("path", ""))
    route_format = getattr(scope.get("route"), "path_format", None)
    if endpoint is None:
        return UNMATCHED
    if isinstance(route_format, str):  # an API route: its template below the routers' (literal) prefixes
        return _with_prefix(path, route_format, scope.get("path_params", {}))
    mount = str(scope.get("root_path", ""))[len(str(scope.get("app_root_path", ""))):]
    if mount and "app_root_path" in scope:  # a mounted app (static files): one label for every path below it
        return f"{mount}/{{path}}"
    if not scope.get("path_params"):  # a plain route (/metrics): its literal path, which only it matches
        return path
    return UNMATCHED


def _with_prefix(path: str, route_format: str, params: dict[str, object]) -> str:
    """The full template of a route whose own path is `route_format`, reached through routers' prefixes; taken
    by position, since a parameter's value may differ from its text (`007` is the int 7)."""
    parts, own = path.split("/"), route_format.split("/")[1:]
    if len(parts) < len(own):
        return UNMATCHED
    names = {str(value): f"{{{name}}}" for name, value in params.items()}
    prefix = [names.get(part, part) for part in parts[:len(parts) - len(own)]]
    return "/".join(prefix + own)


def method_label(scope: Scope) -> str:
    """The request's method when HTTP defines it, else `OTHER`: a client can send any token as a method."""
    method = str(scope.get("method", ""))
    return method if method in HTTP_METHODS else "OTHER"


def use_json_logs() -> None:
    """The root and uvicorn loggers write JSON lines from now on (with the run id of the request)."""
    format_as_json(*(logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access")))


def _count_points(counter: Counter) -> Any:
    """SQLAlchemy hook: add the metric rows of every ORM or Core INSERT into events."""

    def after_execute(conn: Any, clause: Any, multiparams: Any, params: Any, options: Any, result: Any) -> None:
        if getattr(clause, "is_insert", False) and getattr(getattr(clause, "table", None), "name", "") == EVENTS:
            rows = list(multiparams) or [params]  # executemany, or one statement per row (ORM bulk)
            counter.inc(sum(1 for row in rows if isinstance(row, dict) and row.get("kind") == "metric"))

    return after_execute


def _count_driver_points(counter: Counter) -> Any:
    """SQLAlchemy hook for the driver-level INSERTs (exec_driver_sql, which after_execute does not see): the
    batch's point count comes as the execution option `metric_points` (backend.runs.ingest)."""

    def after_cursor_execute(conn: Any, cursor: Any, statement: Any, parameters: Any, context: Any,
                             executemany: bool) -> None:
        points = context.execution_options.get("metric_points") if context is not None else None
        if points:
            counter.inc(points)

    return after_cursor_execute


def install(app: FastAPI) -> None:
    """Add the latency middleware (outermost), the ingestion counter, and GET /metrics."""
    registry = CollectorRegistry()
    latency = Histogram("contrastlab_http_request_duration_seconds", "Time to the response's first byte.",
                        ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=registry)
    points = Counter("contrastlab_metric_points_received", "Metric points received from workers by this API.",
                     registry=registry)
    registry.register(StateCollector(app))
    engine: Engine = app.state.engine
    event.listen(engine, "after_execute", _count_points(points))
    event.listen(engine, "after_cursor_execute", _count_driver_points(points))
    settings = app.state.settings

    def metrics(request: Request) -> Response:
        """Prometheus text format; with API_TOKEN set it needs the same bearer token as the API."""
        if not bearer_ok(dict(request.scope["headers"]), settings.tokens):
            raise Unauthorized(UNAUTHORIZED)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.add_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    app.add_middleware(RequestMetrics, latency=latency, json_logs=settings.log_format == "json")
