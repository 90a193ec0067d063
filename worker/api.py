"""The worker's side of the worker protocol: typed messages in, typed answers out, over the client's HTTP layer.

Every message is a model of contrastlab.core.protocol, checked here exactly as the API will check it (its JSON
form validated again) before it is sent: a malformed message raises pydantic's ValidationError in the worker,
and nothing leaves. Every call is retried (a worker's POSTs are safe to send again: a point or a log line is
keyed; claim, release and finish are guarded state changes, a repeat is a 409), because a worker that gives
up too soon loses a run that could have finished. Every call after the claim carries the attempt's lease
secret; a 409 on one of them means the lease is gone (LeaseLost).
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
from pydantic import BaseModel

from contrastlab.client.http import ApiError, Http, checked
from contrastlab.core import paths
from contrastlab.core.protocol import (
    BatchReceived,
    Claim,
    ClaimGranted,
    EventBatch,
    Finish,
    Release,
    WorkerBeat,
    WorkerCall,
    WorkerSeen,
    lease_headers,
)

Message = TypeVar("Message", bound=BaseModel)


class NotClaimed(Exception):
    """The run cannot be claimed (it is gone, or not queued: a redelivered message); the API's reason."""


class LeaseLost(ApiError):
    """The API answered 409 to a call of the attempt: another attempt holds the run now, or it is final."""


JSON_BODY = {"Content-Type": "application/json"}


def checked_body(message: Message) -> bytes:
    """The message's JSON body, validated again from those bytes as the API will read them (pydantic-core both
    ways: a 2,000-point batch in a quarter less time than dumping to dicts, validating and json.dumps); raises
    ValidationError, sends nothing."""
    body = message.model_dump_json(warnings=False).encode()
    type(message).model_validate_json(body)
    return body


class WorkerApi(Http):
    """A worker's connection to the API: claim a run, fetch its inputs; the attempt's calls go through a Lease."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 30.0, retries: int = 8,
                 client: httpx.Client | None = None) -> None:
        super().__init__(base_url, token, timeout=timeout, retries=retries, client=client)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send with retries; the answer comes back as it is."""
        return self.request(method, path, idempotent=True, **kwargs)

    def claim(self, run_id: int, claim: Claim) -> ClaimGranted:
        """Take a queued run; NotClaimed when it is not queued (409) or gone (404), ApiError on any other refusal."""
        response = self.call("POST", paths.fill(paths.RUN_CLAIM, run_id=run_id), content=checked_body(claim),
                             headers=JSON_BODY)
        if response.status_code in (404, 409):
            raise NotClaimed(response.json().get("detail"))
        return ClaimGranted.model_validate_json(checked(response).content)

    def beat(self, beat: WorkerBeat) -> WorkerSeen:
        """Say this worker is alive, what it offers and which run's message it holds; ApiError on a refusal."""
        response = self.call("POST", paths.WORKER_HEARTBEAT, content=checked_body(beat), headers=JSON_BODY)
        return WorkerSeen.model_validate_json(checked(response).content)

    def download_artifact(self, run_id: int, name: str, dest: Path) -> bool:
        """Save a run's artifact into dest; False when the run has none of that name (404)."""
        response = self.call("GET", paths.fill(paths.RUN_ARTIFACT, run_id=run_id, name=name))
        if response.status_code == 404:
            return False
        dest.write_bytes(checked(response).content)
        return True


class Lease:
    """The calls of one claimed attempt, each proving the lease with its secret (never logged, never shown)."""

    def __init__(self, api: WorkerApi, run_id: int, worker: str, grant: ClaimGranted) -> None:
        self.api, self.run_id, self.worker, self.attempt = api, run_id, worker, grant.attempt
        self.headers = lease_headers(grant.lease_secret)

    def send(self, batch: EventBatch) -> BatchReceived:
        """Metric points, messages and the phase; an empty batch is the heartbeat that renews the lease."""
        return BatchReceived.model_validate_json(self._post(paths.RUN_EVENTS, batch).content)

    def release(self, release: Release) -> None:
        """Hand the run back (the worker is shutting down): it is queued again and resumes from its checkpoint."""
        self._post(paths.RUN_RELEASE, release)

    def finish(self, finish: Finish) -> None:
        """End the run with its final status, error and summary."""
        self._post(paths.RUN_FINISH, finish)

    def upload(self, name: str, body: IO[bytes]) -> None:
        """Store a file as the run's artifact `name` (a retried upload sends the whole file again)."""
        path = paths.fill(paths.RUN_ARTIFACT, run_id=self.run_id, name=name)
        self._checked(self.api.call("PUT", path, content=body, headers=self.headers))

    def _post(self, template: str, message: WorkerCall) -> httpx.Response:
        if (message.worker, message.attempt) != (self.worker, self.attempt):
            raise ValueError(f"a message of {message.worker} attempt {message.attempt} sent under the lease of "
                             f"{self.worker} attempt {self.attempt}")
        path = paths.fill(template, run_id=self.run_id)
        return self._checked(self.api.call("POST", path, content=checked_body(message),
                                           headers={**self.headers, **JSON_BODY}))

    @staticmethod
    def _checked(response: httpx.Response) -> httpx.Response:
        try:
            return checked(response)
        except ApiError as exc:
            if exc.status_code == 409:
                raise LeaseLost(response.request.method, response.request.url.path, 409, exc.detail) from None
            raise
