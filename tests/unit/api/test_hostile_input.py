"""Hostile input on SQLite and PostgreSQL: a NUL character (which PostgreSQL cannot store or compare in text) is
a 422 naming the field, never a 500."""

from __future__ import annotations

import pytest

from tests.unit.api.conftest import FakeWorker

NUL = "a\x00b"


def _named(response, *loc: str) -> str:
    assert response.status_code == 422, response.text
    found = [e for e in response.json()["detail"] if tuple(e["loc"][:len(loc)]) == loc]
    assert found, response.json()["detail"]
    return found[0]["msg"]


FILTERS = [({"q": NUL}, ("query", "q")), ({"spec": f"optimizer={NUL}"}, ("query", "spec")),
           ({"spec": f"name={NUL}"}, ("query", "spec")),
           *(({f: NUL}, ("query", f)) for f in ("status", "method", "dataset", "encoder"))]


@pytest.mark.parametrize("params, loc", FILTERS)
def test_a_nul_in_the_runs_filters_is_a_422_naming_the_filter(client, submit, params, loc) -> None:
    submit()
    assert "NUL" in _named(client.get("/api/runs", params=params), *loc)


def test_a_nul_in_series_names_is_a_422_naming_names(client, submit) -> None:
    run = submit()
    assert "NUL" in _named(client.get(f"/api/runs/{run['id']}/series", params={"names": NUL}), "query", "names")
    study = client.post("/api/studies", json={"name": "s", "base": {"dataset": "digits", "epochs": 1},
                                              "axes": {"lr": [0.1, 0.2]}, "seeds": [0]})
    assert study.status_code == 201, study.text
    curves = client.get(f"/api/studies/{study.json()['id']}/curves", params={"names": NUL})
    assert "NUL" in _named(curves, "query", "names")


def test_a_nul_in_a_workers_name_or_a_point_is_a_422_and_in_a_log_line_is_replaced(client, submit) -> None:
    run = submit()
    refused = client.post(f"/api/runs/{run['id']}/claim", json={"worker": NUL})
    assert "NUL" in _named(refused, "body", "worker")
    worker = FakeWorker(client, run["id"])
    worker.claim()
    assert "NUL" in _named(worker.send([(NUL, 1, 0.0, 1.0)]), "body", "points", 0, "name")
    assert worker.send([("loss", 1, 0.0, 1.0)], logs=[f"binary {NUL}"]).status_code == 200
    logs = [e["text"] for e in client.get(f"/api/runs/{run['id']}/log").json()["items"]]
    assert "binary a\ufffdb" in logs
    worker.finish("failed", error=f"crashed {NUL}")
    assert client.get(f"/api/runs/{run['id']}").json()["error"] == "crashed a\ufffdb"
