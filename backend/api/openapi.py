"""The OpenAPI document says which credential each route needs, so /docs and generated clients know: the users'
bearer token (API_TOKEN), the workers' (WORKER_TOKEN, on the worker routes), or either (what a worker reads)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from backend.access.security import PUBLIC_PATHS, route_kind

RAW_BODIES: list[type[BaseModel]] = []
SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "API_TOKEN: users, the page, the CLI"},
    "worker": {"type": "http", "scheme": "bearer", "description": "WORKER_TOKEN: workers only (claim, report, "
               "release, finish, upload; read a run and its artifacts)"},
}


def _security(method: str, path: str, users: bool, workers: bool) -> list[dict[str, list[str]]]:
    kind = route_kind(method.upper(), path) if workers else "user"
    user: list[dict[str, list[str]]] = [{"bearer": []}] if users else []
    worker: list[dict[str, list[str]]] = [{"worker": []}]
    return worker if kind == "worker" else [*user, *worker] if kind == "shared" else user


def raw_body(model: type[BaseModel]) -> dict[str, Any]:
    """openapi_extra for a route that parses its JSON body itself (model_validate_json: no dict in between)."""
    RAW_BODIES.append(model)
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def _add_models(schema: dict[str, Any], *models: type[BaseModel]) -> None:
    """The schemas of the bodies routes parse themselves, in components where raw_body's $ref points."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in models:
        document = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in {**document.pop("$defs", {}), model.__name__: document}.items():
            schemas.setdefault(name, definition)


def document_security(app: FastAPI, required: bool, workers: bool = False) -> None:
    """Add the bearer schemes to every /api operation but the public ones (when tokens are configured)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            _add_models(schema, *RAW_BODIES)
            if required or workers:
                schema.setdefault("components", {})["securitySchemes"] = {
                    name: scheme for name, scheme in SCHEMES.items() if (name == "worker") == workers or
                    (name == "bearer" and required)}
                for path, operations in schema.get("paths", {}).items():
                    if path.startswith("/api/") and path not in PUBLIC_PATHS:
                        for method, operation in operations.items():
                            if security := _security(method, path, required, workers):
                                operation["security"] = security
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
