"""A canned server for CLI tests: each path answers with its body, so a command runs end to end without a stack."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from contrastlab.client import cli, cli_base
from contrastlab.client.api import Client


def serve_canned(monkeypatch: pytest.MonkeyPatch, answers: dict[str, Any]) -> list[httpx.Request]:
    """Point the CLI at a transport that answers each path with its canned body (404 otherwise); returns the
    requests seen, with the URL and token the command was given recorded on each as headers."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = answers.get(request.url.path)
        return httpx.Response(404, json={"detail": "not found"}) if body is None else httpx.Response(200, json=body)

    def client(ctx: Any) -> Client:
        headers = {"X-Given-Url": ctx.obj["url"], "X-Given-Token": ctx.obj["token"] or ""}
        return Client("http://lab", http=httpx.Client(transport=httpx.MockTransport(handle), base_url="http://lab",
                                                      headers=headers))

    monkeypatch.setattr(cli, "_client", client)
    monkeypatch.setattr(cli_base, "_client", client)  # the study commands (cli_study) reach it there
    return seen
