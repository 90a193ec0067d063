"""Domain errors mapped once (backend.errors): every route answers a missing run or a refused transition alike."""

from __future__ import annotations

import importlib
import pkgutil
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

import backend
from backend.errors import STATUS, DomainError
from backend.models import Run
from tests.unit.api.conftest import FakeWorker


def _subclasses(kind: type[DomainError]) -> set[type[DomainError]]:
    return {kind, *(sub for direct in kind.__subclasses__() for sub in _subclasses(direct))}


def test_every_domain_error_of_the_backend_has_its_http_status_in_one_table() -> None:
    """A domain module raises its own error class (artifacts.BadName, dispatch.BrokerUnavailable, ...); each one
    derives from a class that backend.errors.STATUS maps, so no module writes a status code of its own."""
    for module in pkgutil.walk_packages(backend.__path__, "backend."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
    kinds = _subclasses(DomainError) - {DomainError}
    assert len(kinds) > len(STATUS)  # the domains' own errors are found too
    unmapped = [kind.__qualname__ for kind in kinds if not any(base in STATUS for base in kind.__mro__)]
    assert unmapped == []


def test_a_missing_run_is_404_with_the_same_detail_from_every_route(client: TestClient) -> None:
    calls: list[tuple[str, str, dict | None]] = [
        ("GET", "/api/runs/999", None), ("POST", "/api/runs/999/cancel", None), ("DELETE", "/api/runs/999", None),
        ("GET", "/api/runs/999/metrics", None), ("GET", "/api/runs/999/log", None),
        ("GET", "/api/runs/999/artifacts", None), ("GET", "/api/runs/999/series", None),
        ("POST", "/api/runs/999/claim", {"worker": "w"}),
        ("POST", "/api/runs/999/events", {"worker": "w", "attempt": 1}),
    ]
    for method, path, body in calls:
        response = client.request(method, path, json=body)
        assert (response.status_code, response.json()) == (404, {"detail": "run 999 not found"}), (method, path)
    upload = client.put("/api/runs/999/artifacts/x.bin", content=b"x")
    assert (upload.status_code, upload.json()["detail"]) == (404, "run 999 not found")


def test_refused_transitions_are_409_saying_why(client: TestClient, submit) -> None:
    rid = submit()["id"]
    holder = FakeWorker(client, rid, "w1")
    holder.claim()
    stale, wrong = {"worker": "w2", "attempt": 1}, {"X-Lease-Secret": "not-the-secret"}
    why = (f"worker w2 (attempt 1) does not hold the lease of run {rid}: "
           "the X-Lease-Secret is not that of its current attempt (attempt 1)")
    answers = {
        "claim": client.post(f"/api/runs/{rid}/claim", json={"worker": "w2"}),
        "events": client.post(f"/api/runs/{rid}/events", json=stale, headers=wrong),
        "release": client.post(f"/api/runs/{rid}/release", json={**stale, "reason": "shutdown"}, headers=wrong),
        "finish": client.post(f"/api/runs/{rid}/finish", json={**stale, "status": "succeeded"}, headers=wrong),
        "upload": client.put(f"/api/runs/{rid}/artifacts/x.bin", content=b"x", headers=wrong),
        "delete": client.delete(f"/api/runs/{rid}"),
    }
    details = {name: (r.status_code, r.json()["detail"]) for name, r in answers.items()}
    assert details == {
        "claim": (409, f"run {rid} is running on w1 (attempt 1) with a live lease"),
        "events": (409, why), "release": (409, why), "finish": (409, why),
        "upload": (409, why.replace("worker w2 (attempt 1)", "this upload of 'x.bin'")),
        "delete": (409, f"nothing was moved to the trash: run {rid} is running; cancel it first, then delete it "
                        "once it has stopped"),
    }
    missing = client.get(f"/api/runs/{rid}/artifacts/run.json")
    assert (missing.status_code, missing.json()["detail"]) == (404, f"run {rid} has no artifact 'run.json' "
                                                                    "(status running)")
    assert client.post(f"/api/runs/{rid}/cancel").status_code == 200
    holder.finish("canceled")
    again = client.post(f"/api/runs/{rid}/cancel")
    assert (again.status_code, again.json()["detail"]) == (409, f"run {rid} is already canceled")


def test_an_empty_batch_is_the_heartbeat_and_there_is_no_other(client: TestClient, submit) -> None:
    rid = submit()["id"]
    worker = FakeWorker(client, rid, "w1")
    worker.claim()
    factory = client.app.state.sessionmaker  # type: ignore[attr-defined]
    past = datetime(2000, 1, 1, tzinfo=UTC)
    with factory() as session:
        session.execute(update(Run).where(Run.id == rid).values(lease_expires_at=past))
        session.commit()
    response = worker.send([])
    assert response.json() == {"received": 0, "cancel_requested": False, "lease_seconds": 60}
    with factory() as session:
        renewed = session.get(Run, rid)
        assert renewed is not None and renewed.lease_expires_at is not None
        assert renewed.lease_expires_at > past + timedelta(days=365)
    assert "/api/runs/{run_id}/heartbeat" not in client.get("/openapi.json").json()["paths"]
    assert client.post(f"/api/runs/{rid}/heartbeat", json={"worker": "w1", "attempt": 1}).status_code in (404, 405)
