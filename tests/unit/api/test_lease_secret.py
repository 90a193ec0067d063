"""Only the worker holding a run's lease writes the run: its claim's secret, sent as X-Lease-Secret, is the proof.

Worker names and attempt numbers are public (the run log shows them), so every forged call below knows them and
is still refused, and changes nothing a user can see: metrics, log, status, summary, artifacts and their bytes.
"""

from __future__ import annotations

import hashlib
import logging

import pytest
from fastapi.testclient import TestClient

from backend.models import Run
from tests.unit.api.conftest import FakeWorker


def _state(client: TestClient, run_id: int) -> dict:
    """Everything a user sees of a run, to compare before and after a refused call."""
    run = client.get(f"/api/runs/{run_id}").json()
    return {"status": run["status"], "attempt": run["attempt"], "progress": run["progress"],
            "summary": run["summary"], "error": run["error"],
            "metrics": client.get(f"/api/runs/{run_id}/metrics").json()["items"],
            "log": client.get(f"/api/runs/{run_id}/log").json()["items"],
            "artifacts": client.get(f"/api/runs/{run_id}/artifacts").json()["items"]}


def _forged(worker: FakeWorker, secret: str | None) -> dict[str, int]:
    """Every call a worker makes, with the holder's public name and attempt but the given secret."""
    client, rid = worker.client, worker.run_id
    headers = {"X-Lease-Secret": secret} if secret is not None else {}
    public = {"worker": worker.name, "attempt": worker.attempt}
    point = {"key": "m1:loss", "name": "loss", "step": 1, "epoch": 0.1, "value": 9.0}
    calls = {
        "events": client.post(f"/api/runs/{rid}/events", json={**public, "points": [point], "progress": 0.5},
                              headers=headers),
        "finish": client.post(f"/api/runs/{rid}/finish", json={**public, "status": "succeeded",
                                                               "summary": {"linear_acc": 0.99}}, headers=headers),
        "release": client.post(f"/api/runs/{rid}/release", json={**public, "reason": "mine now"}, headers=headers),
        "upload": client.put(f"/api/runs/{rid}/artifacts/resume.pt", content=b"attacker weights", headers=headers),
    }
    for name, response in calls.items():
        assert secret is None or secret not in response.text, name
    return {name: response.status_code for name, response in calls.items()}


REFUSED = {"events": 409, "finish": 409, "release": 409, "upload": 409}


def test_calls_without_the_secret_or_with_a_wrong_one_are_refused_and_change_nothing(client, submit) -> None:
    rid = submit()["id"]
    worker = FakeWorker(client, rid, "w1")
    worker.claim()
    before = _state(client, rid)
    assert _forged(worker, None) == REFUSED
    assert _forged(worker, "guessed-" + "x" * 35) == REFUSED
    assert _state(client, rid) == before and before["status"] == "running" and before["metrics"] == []
    missing = client.post(f"/api/runs/{rid}/events", json={"worker": "w1", "attempt": 1})
    assert missing.json()["detail"] == (f"run {rid} takes reports only from the worker holding its lease: "
                                        "send the X-Lease-Secret header its claim returned")
    assert not (client.app.state.settings.artifacts_dir / str(rid) / "resume.pt").exists()
    # The holder itself still reports, uploads and finishes.
    assert worker.send([("loss", 1, 0.1, 2.0)]).status_code == 200
    assert worker.finish(summary={"linear_acc": 0.5})["summary"] == {"linear_acc": 0.5}


def test_an_earlier_attempts_secret_writes_nothing_into_the_next_attempt(client, submit) -> None:
    rid = submit()["id"]
    first = FakeWorker(client, rid, "w1")
    first.claim()
    stale = first.headers["X-Lease-Secret"]
    released = client.post(f"/api/runs/{rid}/release", json={"worker": "w1", "attempt": 1, "reason": "shutdown"},
                           headers=first.headers)
    assert released.status_code == 200 and released.json()["status"] == "queued"
    second = FakeWorker(client, rid, "w1")  # the same public name: only the secret tells the attempts apart
    assert second.claim()["attempt"] == 2
    assert second.headers["X-Lease-Secret"] != stale
    before = _state(client, rid)
    second.attempt = 2
    assert _forged(second, stale) == REFUSED
    assert _state(client, rid) == before
    refusal = first.send([("loss", 1, 0.1, 2.0)])
    assert refusal.status_code == 409 and stale not in refusal.text
    assert "not that of its current attempt (attempt 2)" in refusal.json()["detail"]


def test_a_finished_run_is_immutable_even_to_its_own_worker(client, submit) -> None:
    rid = submit()["id"]
    worker = FakeWorker(client, rid)
    worker.claim()
    weights = b"the encoder it trained"
    put = client.put(f"/api/runs/{rid}/artifacts/encoder.safetensors", content=weights, headers=worker.headers)
    assert put.status_code == 201
    worker.send([("loss", 1, 0.1, 2.0)])
    worker.finish(summary={"linear_acc": 0.8})
    before = _state(client, rid)
    overwrite = client.put(f"/api/runs/{rid}/artifacts/encoder.safetensors", content=b"attacker weights",
                           headers=worker.headers)
    assert overwrite.status_code == 409
    assert overwrite.json()["detail"] == (f"this upload of 'encoder.safetensors' does not hold the lease of run {rid}: "
                                          "the run is succeeded (a finished run's status, metrics and artifacts "
                                          "no longer change)")
    assert _forged(worker, worker.headers["X-Lease-Secret"]) == REFUSED
    assert _state(client, rid) == before
    assert client.get(f"/api/runs/{rid}/artifacts/encoder.safetensors").content == weights
    assert before["artifacts"][0]["sha256"] == hashlib.sha256(weights).hexdigest()


def test_a_queued_runs_artifacts_cannot_be_planted(client, submit) -> None:
    rid = submit()["id"]
    planted = client.put(f"/api/runs/{rid}/artifacts/resume.pt", content=b"x", headers={"X-Lease-Secret": "x"})
    assert planted.status_code == 409 and "the run is queued" in planted.json()["detail"]
    assert client.get(f"/api/runs/{rid}/artifacts").json()["items"] == []


def test_the_secret_goes_to_the_claimer_only_and_is_stored_as_its_hash(client, submit, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    rid = submit()["id"]
    worker = FakeWorker(client, rid)
    grant = worker.claim()
    secret = grant["lease_secret"]
    assert len(secret) >= 43 and FakeWorker(client, submit()["id"]).claim()["lease_secret"] != secret
    worker.send([("loss", 1, 0.1, 2.0)], logs=["pretraining"])
    seen = [client.get(f"/api/runs/{rid}").text, client.get("/api/runs").text, grant["run"].__repr__(),
            client.get(f"/api/runs/{rid}/log").text, client.get(f"/api/runs/{rid}/metrics").text]
    worker.finish()
    seen.append(client.get(f"/api/runs/{rid}/events").text)
    assert all(secret not in text for text in seen)
    assert "lease_secret" not in client.get(f"/api/runs/{rid}").json()
    assert secret not in caplog.text
    with client.app.state.sessionmaker() as session:
        row = session.get(Run, rid)
        assert row is not None and row.lease_secret_hash is None  # the secret dies with the lease


def test_the_database_keeps_the_sha256_not_the_secret(client, submit) -> None:
    rid = submit()["id"]
    secret = FakeWorker(client, rid).claim()["lease_secret"]
    with client.app.state.sessionmaker() as session:
        row = session.get(Run, rid)
        assert row is not None
        assert row.lease_secret_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in repr({c.name: getattr(row, c.name) for c in Run.__table__.columns})


@pytest.mark.parametrize("header", ["", " "])
def test_an_empty_secret_is_a_missing_one(client, submit, header: str) -> None:
    rid = submit()["id"]
    FakeWorker(client, rid).claim()
    response = client.post(f"/api/runs/{rid}/events", json={"worker": "w1", "attempt": 1},
                           headers={"X-Lease-Secret": header})
    assert response.status_code == 409 and "X-Lease-Secret header its claim returned" in response.text
