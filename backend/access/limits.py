"""Request body limits: a clear 413 (QuotaExceeded) before a large body is read into memory or onto disk.

Three limits: ordinary requests (MAX_BODY_BYTES), a worker's metric batch
(MAX_BATCH_BYTES) and artifact uploads (MAX_ARTIFACT_BYTES). The declared
Content-Length is checked first; a chunked body is counted as it arrives.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import QuotaExceeded, as_http_exception, send_error
from contrastlab.core.settings import Settings

ARTIFACT_UPLOAD = re.compile(r"^/api/runs/[^/]+/artifacts/[^/]+$")
EVENT_BATCH = re.compile(r"^/api/runs/[^/]+/events$")


def limit_for(settings: Settings, method: str, path: str) -> tuple[int, str]:
    if method == "PUT" and ARTIFACT_UPLOAD.match(path):
        return settings.max_artifact_bytes, "MAX_ARTIFACT_BYTES"
    if method == "POST" and EVENT_BATCH.match(path):
        return settings.max_batch_bytes, "MAX_BATCH_BYTES"
    return settings.max_body_bytes, "MAX_BODY_BYTES"


def too_large(limit: int, setting: str) -> str:
    return f"request body larger than {limit} bytes ({setting}): send less, or raise {setting} on the server"


class BodyLimit:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = limit_for(self.settings, scope["method"], scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_error(send, QuotaExceeded(too_large(limit, setting)))
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # an HTTPException: FastAPI, reading the body, would make anything else a 400
                    raise as_http_exception(QuotaExceeded(too_large(limit, setting)))
            return message

        await self.app(scope, counted, send)
