"""Access: bearer tokens (or the session cookie a browser gets by logging in once) and security headers.

With API_TOKEN set (one token or a comma-separated list), every /api route but
health and login needs `Authorization: Bearer <token>`. A browser cannot put
that header on an EventSource or an `<a download>`, so the page logs in once:
POST /api/login with the token sets an HttpOnly, SameSite=Strict session cookie
holding an HMAC of the token (not the token), accepted alongside the header.
SameSite=Strict keeps other sites from riding on it (no CSRF). Tokens are
compared in constant time and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "contrastlab_session"
PUBLIC_PATHS = frozenset({"/api/health", "/api/login", "/api/logout"})
UNAUTHORIZED = ("missing or wrong API token: send `Authorization: Bearer <token>` "
                "(the API_TOKEN the server was started with), or log in on the page")

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


def session_value(token: str) -> str:
    """What the cookie holds: an HMAC of the token, so the cookie never reveals the token itself."""
    return hmac.new(token.encode(), b"contrastlab-session-v1", hashlib.sha256).hexdigest()


def matches(presented: str, accepted: Sequence[str]) -> bool:
    """Constant-time comparison against every accepted value (no early exit)."""
    found = False
    for value in accepted:
        found |= hmac.compare_digest(presented.encode(), value.encode())
    return found


def bearer(headers: dict[bytes, bytes]) -> str:
    scheme, _, value = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def cookie(headers: dict[bytes, bytes], name: str = COOKIE) -> str:
    for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


def authorized(headers: dict[bytes, bytes], tokens: Sequence[str]) -> bool:
    if not tokens:
        return True
    token, session = bearer(headers), cookie(headers)
    return (bool(token) and matches(token, tokens)) or (
        bool(session) and matches(session, [session_value(t) for t in tokens]))


async def send_json(send: Send, status: int, detail: object, extra: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class TokenGuard:
    """401 for any /api request without a valid token or session cookie (when tokens are configured)."""

    def __init__(self, app: ASGIApp, tokens: Sequence[str]) -> None:
        self.app, self.tokens = app, tuple(tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (scope["type"] != "http" or not self.tokens or not path.startswith("/api/")
                or path in PUBLIC_PATHS or authorized(dict(scope["headers"]), self.tokens)):
            await self.app(scope, receive, send)
            return
        await send_json(send, 401, UNAUTHORIZED, {"www-authenticate": "Bearer"})


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
