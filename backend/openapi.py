"""The OpenAPI document says which routes need the bearer token, so /docs and generated clients know."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from backend.security import PUBLIC_PATHS


def document_security(app: FastAPI, required: bool) -> None:
    """Add the bearer scheme to every /api operation but the public ones (when tokens are configured)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            if required:
                schema.setdefault("components", {})["securitySchemes"] = {
                    "bearer": {"type": "http", "scheme": "bearer", "description": "API_TOKEN"}}
                for path, operations in schema.get("paths", {}).items():
                    if path.startswith("/api/") and path not in PUBLIC_PATHS:
                        for operation in operations.values():
                            operation["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
