"""Seed groups, removing finished runs with their files, and the metrics CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tests.unit.api.conftest import FakeWorker


def test_group_launches_one_run_per_seed_sharing_a_group_id(client, settings) -> None:
    body = {"spec": {"method": "simclr", "dataset": "digits", "epochs": 2, "name": "seeds"}, "seeds": [3, 1, 2]}
    response = client.post("/api/runs/group", json=body)
    assert response.status_code == 201, response.text
    group = response.json()
    assert [r["spec"]["seed"] for r in group["items"]] == [3, 1, 2]
    assert {r["group_id"] for r in group["items"]} == {group["group_id"]} == {group["items"][0]["id"]}
    listed = client.get("/api/runs", params={"group_id": group["group_id"]}).json()
    assert listed["total"] == 3
    assert len(list(Path(settings.data_dir, "broker", "queue").glob("*.msg"))) == 3
    # A plain run is not in a group; the plain POST still takes a bare RunSpec.
    assert client.post("/api/runs", json={"dataset": "digits"}).json()["group_id"] is None


def test_group_errors_name_the_spec_field_or_the_seeds(client) -> None:
    bad = client.post("/api/runs/group", json={"spec": {"epochs": -1}, "seeds": [1, 1]}).json()["detail"]
    assert sorted(tuple(e["loc"]) for e in bad) == [("body", "seeds"), ("body", "spec", "epochs")]
    assert client.post("/api/runs/group", json={"spec": {}, "seeds": []}).status_code == 422
    assert client.get("/api/runs").json()["total"] == 0


def test_delete_is_409_until_final_then_emptying_the_trash_removes_events_artifacts_and_files(client, submit,
                                                                                            settings) -> None:
    run = submit()
    worker = FakeWorker(client, run["id"])
    worker.claim()
    worker.send([("loss", 1, 0.1, 2.0)], logs=["pretraining"])
    put = client.put(f"/api/runs/{run['id']}/artifacts/encoder.safetensors", content=b"weights",
                     headers=worker.headers)
    assert put.status_code == 201
    response = client.delete(f"/api/runs/{run['id']}")
    assert response.status_code == 409 and "cancel it first" in response.json()["detail"]

    worker.finish()
    files = Path(settings.data_dir, "artifacts", str(run["id"]))
    assert (files / "encoder.safetensors").is_file()
    assert client.delete(f"/api/runs/{run['id']}").status_code == 204
    assert (files / "encoder.safetensors").is_file()  # in the trash, whole
    assert client.delete("/api/trash").json()["runs"] == 1
    assert client.get(f"/api/runs/{run['id']}").status_code == 404
    assert not files.exists()
    with client.app.state.sessionmaker() as session:
        from sqlalchemy import func, select

        from backend.models import Artifact, Event
        assert session.scalar(select(func.count()).select_from(Event).where(Event.run_id == run["id"])) == 0
        assert session.scalar(select(func.count()).select_from(Artifact).where(Artifact.run_id == run["id"])) == 0
    assert client.delete(f"/api/runs/{run['id']}").status_code == 404


def test_metrics_csv_has_every_point(client, submit) -> None:
    run = submit()
    worker = FakeWorker(client, run["id"])
    worker.claim()
    worker.send([("loss", s, s / 10, 1.0 / s) for s in range(1, 8)] + [("knn_acc", 7, 1.0, 0.75)])
    response = client.get(f"/api/runs/{run['id']}/metrics.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert f"run-{run['id']}-metrics.csv" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 8 and rows[0]["name"] == "loss" and float(rows[2]["value"]) == 1.0 / 3
    assert rows[-1] == {**rows[-1], "name": "knn_acc", "step": "7", "epoch": "1.0", "value": "0.75"}
    assert rows[0]["time"].endswith("Z")
