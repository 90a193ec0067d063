"""The API's domain errors and the one place they become HTTP answers (404 and 409).

Routes and the functions they call raise `NotFound` or `Conflict` with the message a user should read;
the handlers installed on the app turn them into `{"detail": message}` with the right status code.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class NotFound(LookupError):
    """The thing asked for does not exist (HTTP 404); the message names it, e.g. "run 7 not found"."""


class Conflict(Exception):
    """The transition is not allowed in the thing's current state (HTTP 409); the message says why."""


def run_not_found(run_id: int) -> NotFound:
    return NotFound(f"run {run_id} not found")


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": str(exc)})


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=409, content={"detail": str(exc)})


def install(app: FastAPI) -> None:
    """Map NotFound to 404 and Conflict to 409 for every route, with the exception's message as the detail."""
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Conflict, _conflict)
