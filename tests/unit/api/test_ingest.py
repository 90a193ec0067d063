"""Worker batches into the event log (backend.runs.ingest), SQLite and PostgreSQL: every point stored exactly once,
in the order sent, with its words and times as sent."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import event, text

from backend.runs.ingest import array_literal
from tests.unit.api.conftest import FakeWorker

AWKWARD = ('loss "quoted"', "back\\slash", "comma,brace{}", "NULL", "ünïcode ✓", "", " spaced ")


def _points(client: TestClient, run_id: int) -> list[dict]:
    return client.get(f"/api/runs/{run_id}/metrics", params={"limit": 10_000}).json()["items"]


def test_batches_store_every_point_once_in_order_with_its_words(client: TestClient, submit) -> None:
    worker = FakeWorker(client, submit()["id"])
    worker.claim()
    names = [n for n in AWKWARD if n.strip()]
    first = [(names[i % len(names)], i, i / 100, 1.0 / (i + 1)) for i in range(2000)]
    assert worker.send(first, logs=AWKWARD[:4], first_seq=1).status_code == 200
    assert worker.send(first, first_seq=1).status_code == 200  # the retry of the same batch stores nothing
    second = [("acc", 2000 + i, 20.0, 0.5) for i in range(1500)]
    assert worker.send(second, first_seq=2001).status_code == 200
    points = _points(client, worker.run_id)
    assert [(p["name"], p["step"], p["epoch"], p["value"]) for p in points] == first + second
    ids = [p["id"] for p in points]
    assert ids == sorted(ids) and len(set(ids)) == 3500
    log = client.get(f"/api/runs/{worker.run_id}/log").json()["items"]
    assert [e["text"] for e in log if e["kind"] == "log"] == list(AWKWARD[:4])
    assert client.get(f"/api/runs/{worker.run_id}").json()["status"] == "running"


def test_a_point_keeps_the_time_it_was_sent_with(client: TestClient, submit) -> None:
    worker = FakeWorker(client, submit()["id"])
    worker.claim()
    body = {"worker": worker.name, "attempt": worker.attempt, "points": [
        {"key": "1:1", "name": "loss", "step": 1, "epoch": 0.0, "value": 2.0, "time": "2026-01-02T03:04:05.5+02:00"},
        {"key": "1:2", "name": "loss", "step": 2, "epoch": 0.0, "value": 1.0}]}
    before = datetime.now(UTC)
    response = client.post(f"/api/runs/{worker.run_id}/events", json=body, headers=worker.headers)
    assert response.status_code == 200, response.text
    sent, stamped = (datetime.fromisoformat(p["time"]) for p in _points(client, worker.run_id))
    assert sent == datetime(2026, 1, 2, 1, 4, 5, 500000, tzinfo=UTC)
    assert abs((stamped - before).total_seconds()) < 60


def test_a_bad_batch_is_422_naming_the_field(client: TestClient, submit) -> None:
    worker = FakeWorker(client, submit()["id"])
    worker.claim()
    body = {"worker": worker.name, "attempt": worker.attempt,
            "points": [{"key": "1:1", "name": "loss", "step": -1, "epoch": 0.0, "value": 1.0}]}
    response = client.post(f"/api/runs/{worker.run_id}/events", json=body, headers=worker.headers)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "points", 0, "step"]
    broken = client.post(f"/api/runs/{worker.run_id}/events", content=b"{not json", headers=worker.headers)
    assert broken.status_code == 422 and broken.json()["detail"][0]["loc"][0] == "body"
    assert _points(client, worker.run_id) == []


def test_a_batch_is_one_renewal_and_one_insert(client: TestClient, submit) -> None:
    """The lease holder's batch reads nothing first: the UPDATE that renews the lease and counts the batch returns
    what the answer needs (a pending cancel), then one INSERT; a heartbeat is the UPDATE alone."""
    worker = FakeWorker(client, submit()["id"])
    worker.claim()
    statements: list[tuple[int, str]] = []

    def seen(connection: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append((id(connection), " ".join(statement.split()[:3])))

    def of_the_request() -> list[str]:
        """The statements on the connection of the request's renewal (the reconciler may query beside it)."""
        renewal = {conn for conn, statement in statements if statement == "UPDATE runs SET"}
        assert len(renewal) == 1, statements
        return [statement for conn, statement in statements if conn in renewal]

    engine = client.app.state.engine  # type: ignore[attr-defined]
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert worker.send([("loss", i, 0.0, 1.0) for i in range(50)]).json()["cancel_requested"] is False
        batch = of_the_request()
        assert client.post(f"/api/runs/{worker.run_id}/cancel").status_code == 200
        statements.clear()
        assert worker.send([]).json()["cancel_requested"] is True
        heartbeat = of_the_request()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert batch == ["UPDATE runs SET", "INSERT INTO events"]
    assert heartbeat == ["UPDATE runs SET"]


def test_a_batchs_times_are_stored_as_the_orms_are(client: TestClient, submit) -> None:
    """SQLite keeps times as text: a batch's are written as the ORM writes a status event's, and read back as sent."""
    worker = FakeWorker(client, submit()["id"])
    worker.claim()
    sent = datetime(2026, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)
    body = {"worker": worker.name, "attempt": worker.attempt, "points": [
        {"key": "1:1", "name": "loss", "step": 1, "epoch": 0.0, "value": 2.0, "time": sent.isoformat()},
        {"key": "1:2", "name": "loss", "step": 2, "epoch": 0.0, "value": 1.0}],
        "logs": [{"key": "1:l", "text": "hello"}]}
    assert client.post(f"/api/runs/{worker.run_id}/events", json=body, headers=worker.headers).status_code == 200
    with client.app.state.engine.connect() as connection:  # type: ignore[attr-defined]
        stored = connection.execute(text("SELECT kind, time FROM events WHERE run_id = :r ORDER BY id"),
                                    {"r": worker.run_id}).all()
    kinds = [kind for kind, _ in stored]
    assert kinds == ["status", "status", "metric", "metric", "log"]  # queued, running, then the batch
    if isinstance(stored[0][1], str):  # SQLite
        shape = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
        assert all(shape.match(time) for _, time in stored), stored
        assert stored[2][1] == "2026-01-02 03:04:05.500000"
    points = _points(client, worker.run_id)
    assert datetime.fromisoformat(points[0]["time"]) == sent
    assert abs(datetime.fromisoformat(points[1]["time"]) - datetime.now(UTC)) < timedelta(minutes=1)


def test_array_literals_of_every_kind_of_column() -> None:
    """PostgreSQL's array literals, as the batch's INSERT sends them: parts in order, NULLs, numbers, strings that
    need escaping, a repeated time written once, and a mixed or NUL-holding list element by element."""
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert array_literal([1, 2.5, 3], [None, None]) == "{1,2.5,3,NULL,NULL}"
    assert array_literal([], []) == "{}"
    assert array_literal(['a"b', "c\\d", "", "NULL", "x,{y}"], []) == '{"a\\"b","c\\\\d","","NULL","x,{y}"}'
    assert array_literal([None], ["t"]) == '{NULL,"t"}'
    assert array_literal([when, when], [when]) == '{"2026-01-02T03:04:05+00:00","2026-01-02T03:04:05+00:00",' \
        '"2026-01-02T03:04:05+00:00"}'
    assert array_literal([1, None, "a"]) == '{1,NULL,"a"}'
    assert array_literal(["a\x00b", "c"]) == '{"a\x00b","c"}'  # not split at the NUL
