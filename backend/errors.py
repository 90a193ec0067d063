"""The API's domain errors and the one place they become HTTP answers (404, 409, and 422 in strict JSON).

Routes and the functions they call raise `NotFound` or `Conflict` with the message a user should read;
`QuotaExceeded` (413) names the bound reached;
the handlers installed on the app turn them into `{"detail": message}` with the right status code.
A 422 echoes each wrong input as FastAPI's does, made JSON-safe first: NaN, Infinity and lone surrogates
are legal in the JSON Python reads but not in the JSON it writes, so echoing them as they came was a 500.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


class NotFound(LookupError):
    """The thing asked for does not exist (HTTP 404); the message names it, e.g. "run 7 not found"."""


class Conflict(Exception):
    """The transition is not allowed in the thing's current state (HTTP 409); the message says why."""


class QuotaExceeded(Exception):
    """A run or a client reached a bound of the server's (HTTP 413); the message names the setting."""


def run_not_found(run_id: int) -> NotFound:
    return NotFound(f"run {run_id} not found")


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": str(exc)})


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=409, content={"detail": str(exc)})


async def _quota(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=413, content={"detail": str(exc)})


def json_safe(value: Any) -> Any:
    """`value` (made of JSON types) with what strict JSON cannot hold spelled out: NaN and ±inf as the strings
    "nan", "inf", "-inf"; a lone surrogate in a string as its escape text, e.g. "\\ud800"."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {json_safe(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse(status_code=422, content={"detail": json_safe(jsonable_encoder(errors))})


def install(app: FastAPI) -> None:
    """Map NotFound to 404, Conflict to 409, QuotaExceeded to 413 and invalid requests to 422 for every route,
    with the exception's message as the detail."""
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(QuotaExceeded, _quota)
    app.add_exception_handler(RequestValidationError, _invalid_request)
