"""The one HTTP layer of the client and the worker: httpx with one retry policy, and the API's errors in words.

Policy: connection errors and 502/503/504 are retried with doubling backoff capped at RETRY_CAP_S; any other
answer is returned as it is. Only idempotent methods are retried unless the caller says a call is idempotent
(the worker's POSTs are: a point is keyed, a state change is guarded by the attempt), so a submit never
creates a run twice. An upload's body is rewound before each try, so a retried upload sends the whole file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from contrastlab.core.protocol import CLIENT_HEADER, RETRY_CAP_S

log = logging.getLogger(__name__)

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRYABLE_STATUS = frozenset({502, 503, 504})


class ApiError(Exception):
    """The API answered with an error; `str()` names the field and the server's reason."""

    def __init__(self, method: str, path: str, status_code: int, detail: Any) -> None:
        self.status_code, self.detail = status_code, detail
        super().__init__(f"{method} {path}: HTTP {status_code}: {describe_detail(detail)}")


def describe_detail(detail: Any) -> str:
    """FastAPI's error body in words: a 422 becomes one `field: reason (got value)` line per problem."""
    if not isinstance(detail, list):
        return str(detail)
    lines = []
    for problem in detail:
        if not isinstance(problem, dict):
            lines.append(str(problem))
            continue
        where = ".".join(str(part) for part in problem.get("loc", ()) if part != "body") or "request"
        got = f" (got {problem['input']!r})" if "input" in problem and not isinstance(problem["input"], dict) else ""
        lines.append(f"{where}: {problem.get('msg', problem)}{got}")
    return "; ".join(lines)


def checked(response: httpx.Response) -> httpx.Response:
    """The response when it is not an error; else ApiError with the server's `detail`."""
    if response.status_code < 400:
        return response
    try:
        body = response.json()
        detail = body.get("detail", response.text) if isinstance(body, dict) else body
    except ValueError:
        detail = response.text[:500]
    raise ApiError(response.request.method, response.request.url.path, response.status_code, detail)


class Http:
    """One server: an httpx client with the bearer token, sending every request through the retry policy."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30.0, retries: int = 5,
                 backoff_s: float = 0.2, client: httpx.Client | None = None, hint: str = "") -> None:
        """retries: extra tries of a retried call; hint: added to the message when the server stays unreachable."""
        self.url = url.rstrip("/")
        self.client = client or httpx.Client(base_url=self.url, timeout=timeout)
        self.client.headers[CLIENT_HEADER] = "contrastlab"
        if token:
            self.client.headers["Authorization"] = f"Bearer {token}"
        self.retries, self.backoff_s, self.hint = retries, backoff_s, hint

    def request(self, method: str, path: str, *, idempotent: bool | None = None, **kwargs: Any) -> httpx.Response:
        """Send through the retry policy; the last answer comes back as it is (see `checked`)."""
        body = kwargs.get("content")

        def send() -> httpx.Response:
            rewind = getattr(body, "seek", None)
            if rewind is not None:
                rewind(0)  # a retried upload sends the whole file again
            return self.client.request(method, path, **kwargs)

        return self.retrying(method, path, send, idempotent)

    def retrying(self, method: str, path: str, send: Callable[[], httpx.Response],
                 idempotent: bool | None = None) -> httpx.Response:
        """Call `send` until it answers something other than 502/503/504, or the tries run out.

        idempotent: None decides by the method (GET, PUT, ... yes; POST no). Raises ConnectionError when
        the server stays unreachable.
        """
        retried = method.upper() in IDEMPOTENT if idempotent is None else idempotent
        tries = self.retries + 1 if retried else 1
        delay = self.backoff_s
        for attempt in range(1, tries + 1):
            try:
                response = send()
            except httpx.TransportError as exc:
                if attempt == tries:
                    after = f" (after {attempt} tries)" if attempt > 1 else ""
                    raise ConnectionError(f"{method} {self.url}{path}: {exc}{after}{self.hint}") from exc
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code not in RETRYABLE_STATUS or attempt == tries:
                    return response
                problem = f"HTTP {response.status_code}"
            log.warning("%s %s: %s; retrying in %.1f s", method, path, problem, delay)
            time.sleep(delay)
            delay = min(delay * 2, RETRY_CAP_S)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.client.close()
