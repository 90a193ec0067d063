"""Health, the RunSpec schema, the catalogue, and the browser's login (a session cookie instead of a header)."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from backend.access.admission import caps
from backend.access.security import COOKIE, UNAUTHORIZED, client_address, matches
from backend.api.deps import SessionDep, SettingsDep
from backend.errors import Unauthorized
from contrastlab.core.catalog import catalog_document
from contrastlab.core.spec import run_spec_schema

router = APIRouter(tags=["meta"])


class Login(BaseModel):
    token: str = Field(min_length=1, max_length=1000, description="One of the server's API_TOKEN values.")


class LoginState(BaseModel):
    authenticated: bool
    required: bool = Field(description="Whether the server asks for a token at all.")


@router.get("/health")
def health(session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    session.execute(text("SELECT 1"))
    return {
        "status": "ok",
        "database": session.get_bind().dialect.name,
        "broker": settings.resolved_broker_url.split("://", 1)[0],
        "queue": settings.queue,
        "auth": bool(settings.tokens),
    }


def _capped(schema: dict[str, Any], field: str, cap: int, setting: str) -> None:
    """Lower the field's `maximum` (in each integer branch of a nullable field) to this server's cap."""
    prop = schema["properties"].get(field)
    if prop is None:
        return
    for branch in [prop, *prop.get("anyOf", [])]:
        if branch.get("type") == "integer":
            branch["maximum"] = min(branch.get("maximum", cap), cap)
    prop["x-server-cap"] = setting


@router.get("/schema/run-spec")
def run_spec(settings: SettingsDep) -> dict[str, Any]:
    """The RunSpec JSON Schema: every option with its default, bounds, help text and form group. The bounds are
    this server's: a field it caps (MAX_EPOCHS, MAX_BATCH_SIZE, MAX_IMAGE_SIZE) has the cap as its maximum, so the
    form refuses what submitting would."""
    schema = copy.deepcopy(run_spec_schema())
    for field, (cap, setting) in caps(settings).items():
        _capped(schema, field, cap, setting)
    return schema


@router.get("/schema/catalog")
def catalog() -> dict[str, Any]:
    """The catalogue: methods, datasets, metrics (label, unit, direction, format), statuses and artifacts.
    The page and the CLI take every label and format from here, so a new metric or method needs no page change."""
    return catalog_document()


@router.post("/login", response_model=LoginState, responses={401: {"description": "Wrong token."},
                                                              429: {"description": "Too many wrong tokens."}})
def login(body: Login, request: Request, response: Response, settings: SettingsDep) -> LoginState:
    """Check a token once and keep the browser signed in for SESSION_HOURS (HttpOnly, SameSite=Strict cookie
    holding a random session secret; a new one at each sign-in)."""
    if not settings.tokens:
        return LoginState(authenticated=True, required=False)
    failures = request.app.state.auth_failures
    client = client_address(request.scope)
    if not matches(body.token, settings.tokens):  # a right token signs in even while guesses are held back
        failures.check(client)
        failures.failed(client)
        raise Unauthorized(UNAUTHORIZED)
    sessions = request.app.state.browser_sessions
    secret = sessions.open(body.token, previous=request.cookies.get(COOKIE, ""))
    response.set_cookie(COOKIE, secret, max_age=int(settings.session_hours * 3600), httponly=True,
                        samesite="strict", path="/", secure=request.url.scheme == "https")
    return LoginState(authenticated=True, required=True)


@router.post("/logout", status_code=204, response_class=Response)
def logout(request: Request) -> Response:
    """End this page's session: its cookie stops working at once, here and in every other API process."""
    request.app.state.browser_sessions.close(request.cookies.get(COOKIE, ""))
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
