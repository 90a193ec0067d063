"""The API's domain errors and the one place they become HTTP answers.

Domain modules raise these with the message a user should read; they know nothing of HTTP. `STATUS` below maps
each to its status code once, and the same mapping serves the three ways an answer leaves: the handlers
installed on the app (`{"detail": message}`), the ASGI middleware that answers before any route
(`send_error`), and a limit hit while FastAPI itself reads a body (`as_http_exception`).

A 422 echoes each wrong input as FastAPI's does, made JSON-safe first: NaN, Infinity and lone surrogates
are legal in the JSON Python reads but not in the JSON it writes, so echoing them as they came was a 500.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import Send


class DomainError(Exception):
    """A refusal with the message a user should read; `STATUS` says which HTTP status it is."""


class NotFound(DomainError, LookupError):
    """The thing asked for does not exist; the message names it, e.g. "run 7 not found"."""


class Conflict(DomainError):
    """The transition is not allowed in the thing's current state; the message says why."""


class QuotaExceeded(DomainError):
    """A run, a client or a request body reached a bound of the server's; the message names the setting."""


class Invalid(DomainError, ValueError):
    """The request names something that cannot be: an artifact name that is a path, a host this server does not
    answer to."""


class Unprocessable(DomainError, ValueError):
    """A well-formed request this server will not do as asked (too many series at once); the message says how."""


class InvalidFields(DomainError, ValueError):
    """Fields this server refuses, as FastAPI's own validation errors are: each a dict of loc, msg, type, input."""

    def __init__(self, errors: Sequence[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(e["msg"]) for e in errors))
        self.errors = list(errors)


class Unauthorized(DomainError):
    """No valid credential for this request."""


class Forbidden(DomainError):
    """A valid credential that may not do this (a worker's token on a user's route, a cross-site write)."""


class TooManyRequests(DomainError):
    """Over a per-client rate; `retry_after` is the seconds to wait."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """The server cannot do it now (the broker is down, the disk is full); the message says what to do."""


STATUS: dict[type[DomainError], int] = {
    Invalid: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    QuotaExceeded: 413,
    Unprocessable: 422,
    InvalidFields: 422,
    TooManyRequests: 429,
    Unavailable: 503,
}


def run_not_found(run_id: int) -> NotFound:
    return NotFound(f"run {run_id} not found")


def status_of(error: DomainError) -> int:
    """The HTTP status of a domain error (of its nearest class in STATUS)."""
    return next(STATUS[kind] for kind in type(error).__mro__ if kind in STATUS)


def headers_of(error: DomainError) -> dict[str, str]:
    if isinstance(error, TooManyRequests):
        return {"Retry-After": str(error.retry_after)}
    if isinstance(error, Unauthorized):
        return {"WWW-Authenticate": "Bearer"}
    return {}


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


def _field_errors(errors: Sequence[Any]) -> Any:
    return json_safe(jsonable_encoder(list(errors)))


def detail_of(error: DomainError) -> Any:
    """What the answer's `detail` holds: the field errors of an InvalidFields, else the message."""
    return _field_errors(error.errors) if isinstance(error, InvalidFields) else str(error)


def as_http_exception(error: DomainError) -> HTTPException:
    """The error as FastAPI's HTTPException: what ASGI middleware raises while FastAPI reads a request's body
    (FastAPI turns any other exception raised there into a 400)."""
    return HTTPException(status_code=status_of(error), detail=detail_of(error), headers=headers_of(error) or None)


async def send_error(send: Send, error: DomainError) -> None:
    """Answer with the error from ASGI middleware, before any route runs."""
    body = json.dumps({"detail": detail_of(error)}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in headers_of(error).items()]
    await send({"type": "http.response.start", "status": status_of(error), "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return JSONResponse(status_code=status_of(exc), content={"detail": detail_of(exc)},
                        headers=headers_of(exc) or None)


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse(status_code=STATUS[InvalidFields], content={"detail": _field_errors(errors)})


def install(app: FastAPI) -> None:
    """Answer every domain error with its status and `{"detail": ...}`, and invalid requests with 422."""
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
