"""Access: bearer tokens (or the session cookie a browser gets by logging in once) and security headers.

With API_TOKEN set (one token or a comma-separated list), every /api route but
health and login needs `Authorization: Bearer <token>`. A browser cannot put
that header on an EventSource or an `<a download>`, so the page logs in once:
POST /api/login with the token sets an HttpOnly, SameSite=Strict session cookie
holding a random session secret that ends after SESSION_HOURS, at logout, or when
the token leaves API_TOKEN (backend.access.sessions). SameSite=Strict keeps other sites
from riding on it, and BrowserGuard refuses cross-site writes and foreign Host
names (CSRF, DNS rebinding). Tokens are
compared in constant time and never logged. Wrong tokens are counted per client
address: past AUTH_FAILURES_PER_MINUTE, that address gets 429 for every wrong
token until its oldest failure is a minute old. A valid token is still served:
one client's wrong guesses must not lock out another behind the same address
(the worker beside `make run`, or everyone behind a proxy). Tokens are long
random secrets; the bound keeps guessing from filling logs and CPU, not from
telling a right guess apart. The client address is the TCP peer's: uvicorn rewrites
it from X-Forwarded-For only for peers in FORWARDED_ALLOW_IPS (none by default,
contrastlab.launch), so a client cannot pick the address its failures count under.

With WORKER_TOKEN set, workers have a credential of their own: the worker
routes (claim, post events, release, finish, upload an artifact, the workers'
heartbeat) take only a worker token, and users' tokens get 403 there; a worker token also reads a run
and downloads its artifacts (a resumed attempt's checkpoint, init_from_run's
encoder), and nothing else. Without it, workers use an API_TOKEN as before.
Either way, each run is written only by the worker holding its lease: every
call carries the lease secret its claim returned (backend.runs.lifecycle).
"""

from __future__ import annotations

import hmac
import math
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import Literal

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import Forbidden, Invalid, TooManyRequests, Unauthorized, send_error
from contrastlab.core.protocol import CLIENT_HEADER, LEASE_SECRET_HEADER

COOKIE = "contrastlab_session"
PUBLIC_PATHS = frozenset({"/api/health", "/api/login", "/api/logout"})
UNAUTHORIZED = ("missing or wrong API token: send `Authorization: Bearer <token>` "
                "(the API_TOKEN the server was started with), or log in on the page")
WORKER_ONLY = ("this is a worker route (claim, report, release, finish, upload, heartbeat): send "
               "`Authorization: Bearer <token>` with the WORKER_TOKEN the server was started with; users' API tokens "
               "cannot act as a worker")
NOT_FOR_WORKERS = ("the worker token only claims runs, reports on them and reads their artifacts: "
                   "send an API_TOKEN for this request")
TOO_MANY = ("too many wrong API tokens from this address (AUTH_FAILURES_PER_MINUTE={limit}); "
            "try again in {wait} s")

# 'unsafe-eval': plotly's WebGL traces (regl) compile their draw calls with `Function(...)`; without it
# they draw "WebGL is not supported" (checked in Chromium). Scripts still load from this origin only.
PAGE_CSP = ("default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# Swagger UI starts itself with an inline script.
DOCS_CSP = PAGE_CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}


RouteKind = Literal["worker", "shared", "user"]
SessionCheck = Callable[[str], bool]  # a session cookie's secret -> whether it is a live session
_RUN = r"^/api/runs/[^/]+"
_WORKER_ROUTES = (("POST", re.compile(_RUN + r"/(claim|events|release|finish)$")),
                  ("PUT", re.compile(_RUN + r"/artifacts/[^/]+$")),
                  ("POST", re.compile(r"^/api/workers/heartbeat$")))
# What a worker reads besides its own calls: the run, and artifacts (its resume.pt, init_from_run's encoder).
_SHARED_ROUTES = (("GET", re.compile(_RUN + r"$")), ("GET", re.compile(_RUN + r"/artifacts/[^/]+$")))


def route_kind(method: str, path: str) -> RouteKind:
    """Which credential a request needs when WORKER_TOKEN is set: a worker's, either, or a user's."""
    method = "GET" if method == "HEAD" else method
    if any(method == m and pattern.match(path) for m, pattern in _WORKER_ROUTES):
        return "worker"
    if any(method == m and pattern.match(path) for m, pattern in _SHARED_ROUTES):
        return "shared"
    return "user"


def matches(presented: str, accepted: Sequence[str]) -> bool:
    """Constant-time comparison against every accepted value (no early exit)."""
    found = False
    for value in accepted:
        found |= hmac.compare_digest(presented.encode(), value.encode())
    return found


class AuthFailures:
    """Wrong tokens per client address over a sliding window; thread-safe (the login route runs in a thread)."""

    def __init__(self, limit: int, window: float = 60.0, max_clients: int = 10_000) -> None:
        self.limit, self.window, self.max_clients = limit, window, max_clients
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """Seconds until `client` may present a token again; 0 when it may now."""
        if self.limit <= 0:
            return 0
        with self._lock:
            times = self._recent(client, time.monotonic())
            if len(times) < self.limit:
                return 0
            return max(1, math.ceil(times[0] + self.window - time.monotonic()))

    def failed(self, client: str) -> None:
        if self.limit <= 0:
            return
        with self._lock:
            now = time.monotonic()
            self._recent(client, now).append(now)
            self._failures.move_to_end(client)
            while len(self._failures) > self.max_clients:  # bounded memory under a spray of addresses
                self._failures.popitem(last=False)

    def check(self, client: str) -> None:
        """TooManyRequests while `client` is over the limit."""
        if wait := self.retry_after(client):
            raise TooManyRequests(TOO_MANY.format(limit=self.limit, wait=wait), wait)

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.setdefault(client, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def bearer(headers: dict[bytes, bytes]) -> str:
    scheme, _, value = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def cookie(headers: dict[bytes, bytes], name: str = COOKIE) -> str:
    for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


def bearer_ok(headers: dict[bytes, bytes], tokens: Sequence[str]) -> bool:
    """Whether the request carries one of `tokens` as its bearer token (always, when there are none)."""
    token = bearer(headers)
    return not tokens or (bool(token) and matches(token, tokens))


class TokenGuard:
    """401 for any /api request (and /metrics) without a valid token or session cookie (when tokens are
    configured); 403 for a user's token on a worker route or a worker's on a user route (WORKER_TOKEN set);
    429 for an address that presented too many wrong ones."""

    def __init__(self, app: ASGIApp, tokens: Sequence[str], failures: AuthFailures,
                 worker_tokens: Sequence[str] = (), sessions: SessionCheck | None = None) -> None:
        self.app, self.tokens, self.failures = app, tuple(tokens), failures
        self.worker_tokens, self.sessions = tuple(worker_tokens), sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        guarded = path.startswith("/api/") or path == "/metrics"
        if scope["type"] != "http" or not guarded or path in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        kind = route_kind(scope.get("method", "GET"), path) if self.worker_tokens else "user"
        if kind != "worker" and not self.tokens:  # no-token mode for users
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        # Only bearer tokens count as guesses: a session secret is too long to guess, and a page whose session
        # ended must not lock its own address out by asking again.
        presented = bool(bearer(headers))
        client = client_address(scope)
        is_worker = bool(self.worker_tokens) and matches(bearer(headers), self.worker_tokens)
        is_user = bool(self.tokens) and (bearer_ok(headers, self.tokens) if presented else
                                         await self._signed_in(cookie(headers)))
        if presented and not (is_user or is_worker):  # a valid credential is never locked out by others' guesses
            try:
                self.failures.check(client)
            except TooManyRequests as limited:
                await send_error(send, limited)
                return
        if (kind == "worker" and is_worker) or (kind == "user" and is_user) or (kind == "shared" and
                                                                               (is_worker or is_user)):
            await self.app(scope, receive, send)
            return
        if is_user or is_worker:  # a valid credential of the other kind: not a guess, and not allowed here
            await send_error(send, Forbidden(WORKER_ONLY if kind == "worker" else NOT_FOR_WORKERS))
            return
        if presented and not is_worker:  # a missing token (a page before its login) is not a guess
            self.failures.failed(client)
        await send_error(send, Unauthorized(WORKER_ONLY if kind == "worker" else UNAUTHORIZED))

    async def _signed_in(self, secret: str) -> bool:
        return bool(secret) and self.sessions is not None and await run_in_threadpool(self.sessions, secret)


STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Headers no cross-site form or simple request can carry: any of them proves the caller is not a foreign page.
_NON_SIMPLE = (CLIENT_HEADER.lower().encode(), LEASE_SECRET_HEADER.lower().encode(), b"authorization")
CROSS_SITE = (f"state-changing requests must be JSON (Content-Type: application/json) or carry the header "
              f"{CLIENT_HEADER} (any value); the page, the CLI and workers send it. A page on another site "
              "cannot, so this stops cross-site requests (CSRF)")


def host_name(headers: dict[bytes, bytes]) -> str:
    """The Host header's name, lower case, without port or IPv6 brackets."""
    host = headers.get(b"host", b"").decode("latin-1").strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def same_site(method: str, headers: dict[bytes, bytes]) -> bool:
    """True unless a state-changing request looks like one a foreign page could have sent."""
    if method not in STATE_CHANGING:
        return True
    content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    return content_type == b"application/json" or any(name in headers for name in _NON_SIMPLE)


class BrowserGuard:
    """Two defences for a server a browser can reach: 400 for a Host it does not answer to (ALLOWED_HOSTS, so a
    DNS-rebinding page cannot talk to a server on loopback), and 403 for a state-changing /api request that is
    neither JSON nor carries a custom header (CSRF, as a cross-site form would be)."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str] | None) -> None:
        self.app, self.hosts = app, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        name = host_name(headers)
        if self.hosts is not None and name not in self.hosts:
            await send_error(send, Invalid(f"this server does not answer to the host name {name!r}: open it by one "
                                           f"of {', '.join(sorted(self.hosts))}, or add the name to ALLOWED_HOSTS"))
            return
        if scope.get("path", "").startswith("/api/") and not same_site(scope.get("method", "GET"), headers):
            await send_error(send, Forbidden(CROSS_SITE))
            return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """nosniff, no framing, same-origin referrers and a CSP on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope.get("path", "").startswith("/docs") else PAGE_CSP

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in {**HEADERS, "content-security-policy": csp}.items()
                         if k.encode() not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
